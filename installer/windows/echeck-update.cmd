@echo off
rem Run by the scheduled task echeck\update (as SYSTEM) when the agent has staged an update and no checkout
rem is open: the staged version's own agent applies it (stop service, switch "current", start, health
rem check, roll back if unhealthy). Its output goes to the update log beside the agent's logs.
set /p V=<"%~dp0update-pending"
"%~dp0versions\%V%\echeck-agent\echeck-agent.exe" --config "%ProgramData%\echeck\agent.toml" update apply --root "%~dp0." --version %V% >> "%ProgramData%\echeck\logs\update.log" 2>&1
