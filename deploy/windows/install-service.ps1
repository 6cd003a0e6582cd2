# Installs sonoran-bridge as a Windows service with NSSM (https://nssm.cc/download), so it starts
# with Windows and restarts when it fails. From an elevated PowerShell, in the folder that holds
# config.toml:
#
#   powershell -ExecutionPolicy Bypass -File install-service.ps1 -Config .\config.toml
#
# Remove it again with:  nssm stop sonoran-bridge; nssm remove sonoran-bridge confirm
param(
    [Parameter(Mandatory = $true)][string]$Config,
    # The sonoran-bridge.exe that pip or pipx installed (found on PATH unless given).
    [string]$Exe = "",
    [string]$Nssm = "nssm",
    [string]$Name = "sonoran-bridge"
)
$ErrorActionPreference = "Stop"

$Config = (Resolve-Path $Config).Path
$Folder = Split-Path -Parent $Config
if (-not $Exe) { $Exe = (Get-Command sonoran-bridge -ErrorAction Stop).Source }
$Logs = Join-Path $Folder "logs"

# A config error would only show up in the service's log: check it here first.
& $Exe check-config --online --config $Config
if ($LASTEXITCODE -ne 0) { throw "check-config failed (exit $LASTEXITCODE): fix $Config first" }

New-Item -ItemType Directory -Force -Path $Logs | Out-Null
& $Nssm install $Name $Exe run --config $Config
& $Nssm set $Name DisplayName "sonoran-bridge (Sonoran CAD live map)"
& $Nssm set $Name AppDirectory $Folder
& $Nssm set $Name Start SERVICE_AUTO_START
# The log as JSON lines, rotated at 10 MB.
& $Nssm set $Name AppStdout (Join-Path $Logs "sonoran-bridge.log")
& $Nssm set $Name AppStderr (Join-Path $Logs "sonoran-bridge.log")
& $Nssm set $Name AppRotateFiles 1
& $Nssm set $Name AppRotateOnline 1
& $Nssm set $Name AppRotateBytes 10485760
# Stop with Ctrl+C first: the daemon closes its listener and lets a request in flight finish.
& $Nssm set $Name AppStopMethodConsole 15000
# Restart after a failure, but not after a config error (exit 2): restarting cannot fix that.
& $Nssm set $Name AppExit Default Restart
& $Nssm set $Name AppExit 2 Exit
& $Nssm set $Name AppRestartDelay 5000
& $Nssm start $Name
Write-Host "installed and started $Name; its log: $Logs\sonoran-bridge.log"
