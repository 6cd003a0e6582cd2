@echo off
rem Runs sonoran-bridge in its own console window and starts it again when it fails, for game
rem servers started by hand or by txAdmin rather than as a service. Put it beside config.toml
rem and give it the program `sonoran-bridge init` named (a venv is not on PATH here):
rem
rem   sonoran-bridge.cmd "C:\fivem\sonoran-bridge\venv\Scripts\sonoran-bridge.exe"
rem   start "sonoran-bridge" /min cmd /c "C:\fivem\sonoran-bridge\sonoran-bridge.cmd" "C:\fivem\sonoran-bridge\venv\Scripts\sonoran-bridge.exe"
rem
rem Without it, the script tries .venv\Scripts\ and venv\Scripts\ beside itself, then PATH
rem (pipx). Ctrl+C stops it cleanly. To start it with Windows, make a Task Scheduler task
rem "At startup" that runs this file, or use install-service.ps1 (NSSM) instead.
setlocal
set "CONFIG=%~dp0config.toml"
set "PROGRAM=%~1"
if not defined PROGRAM if exist "%~dp0.venv\Scripts\sonoran-bridge.exe" set "PROGRAM=%~dp0.venv\Scripts\sonoran-bridge.exe"
if not defined PROGRAM if exist "%~dp0venv\Scripts\sonoran-bridge.exe" set "PROGRAM=%~dp0venv\Scripts\sonoran-bridge.exe"
if not defined PROGRAM (
    where sonoran-bridge >nul 2>nul && set "PROGRAM=sonoran-bridge"
)
if not defined PROGRAM goto :missing
if not "%PROGRAM%"=="sonoran-bridge" if not exist "%PROGRAM%" goto :missing
title sonoran-bridge

:run
"%PROGRAM%" run --config "%CONFIG%"
set "CODE=%ERRORLEVEL%"
if "%CODE%"=="0" goto :end
if "%CODE%"=="9009" goto :missing
if "%CODE%"=="2" (
    echo sonoran-bridge: config error, not restarting. Check it with:
    echo   "%PROGRAM%" check-config --online --config "%CONFIG%"
    pause
    goto :end
)
echo sonoran-bridge exited with %CODE%; starting again in 5 s (Ctrl+C to stop)
timeout /t 5 /nobreak >nul
goto :run

:missing
echo sonoran-bridge: cannot find the program "%PROGRAM%", not starting.
echo   Give its full path, as `sonoran-bridge init` printed it:
echo   %~nx0 "C:\path\to\venv\Scripts\sonoran-bridge.exe"
pause

:end
endlocal
