# Installs sonoran-bridge as a Windows service with NSSM (https://nssm.cc/download), so it starts
# with Windows and restarts when it fails. From an elevated PowerShell, in the folder that holds
# config.toml:
#
#   powershell -ExecutionPolicy Bypass -File install-service.ps1 -Config .\config.toml -Exe "C:\fivem\sonoran-bridge\venv\Scripts\sonoran-bridge.exe"
#
# -Exe is the program `sonoran-bridge init` printed (a venv is not on PATH for a service);
# without it, the sonoran-bridge on PATH (pipx) is used.
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
if (-not $Exe) {
    $Found = Get-Command sonoran-bridge -ErrorAction SilentlyContinue
    if (-not $Found) {
        throw "sonoran-bridge is not on PATH: pass -Exe with the full path that ``sonoran-bridge init`` printed (...\Scripts\sonoran-bridge.exe)"
    }
    $Exe = $Found.Source
}
if (-not (Test-Path -PathType Leaf $Exe)) { throw "-Exe ${Exe}: no such program" }
$Exe = (Resolve-Path $Exe).Path
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
