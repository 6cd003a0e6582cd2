@echo off
rem Runs sonoran-bridge in its own console window and starts it again when it fails, for game
rem servers started by hand or by txAdmin rather than as a service. Put it beside config.toml
rem and start it before (or after) the game server, or call it from your own start script:
rem
rem   start "sonoran-bridge" /min cmd /c "C:\fivem\sonoran-bridge\sonoran-bridge.cmd"
rem
rem Ctrl+C stops it cleanly. To start it with Windows, make a Task Scheduler task "At startup"
rem that runs this file, or use install-service.ps1 (NSSM) instead.
setlocal
set "CONFIG=%~dp0config.toml"
title sonoran-bridge

:run
sonoran-bridge run --config "%CONFIG%"
set "CODE=%ERRORLEVEL%"
if "%CODE%"=="0" goto :end
if "%CODE%"=="2" (
    echo sonoran-bridge: config error, not restarting. Check it with:
    echo   sonoran-bridge check-config --online --config "%CONFIG%"
    pause
    goto :end
)
echo sonoran-bridge exited with %CODE%; starting again in 5 s (Ctrl+C to stop)
timeout /t 5 /nobreak >nul
goto :run

:end
endlocal
