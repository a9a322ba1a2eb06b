@echo off
rem Starts the cashier's UI of the version in "current" (an update switches it without touching this file).
set /p V=<"%~dp0current"
start "" "%~dp0versions\%V%\echeck-ui\echeck-ui.exe"
