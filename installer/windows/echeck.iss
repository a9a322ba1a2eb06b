; echeck for a Windows register: the agent as a service (WinSW), the cashier's UI at logon, updates.
; Build: docs/packaging-windows.md (iscc /DAppVersion=0.1.0 /DBuildDir=..\..\dist\echeck echeck.iss).
;
; Layout: {app}\versions\<version>\ holds the one-folder build (echeck-agent\, echeck-ui\, update-root.json);
; {app}\current names the version that runs; the data (outbox, enrollment, token, logs) is in
; {commonappdata}\echeck and is never written by this installer or by an update.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef BuildDir
  #define BuildDir "..\..\dist\echeck"
#endif
#define ServiceExe "echeck-agent-service.exe"

[Setup]
AppId={{6B1E2C1D-4E0B-4C43-9E49-3A8C5E0C4D11}
AppName=echeck
AppVersion={#AppVersion}
AppPublisher=echeck
DefaultDirName={autopf}\echeck
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=echeck-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
; Files in use are the classic failure: the service is stopped in PrepareToInstall below, and Restart
; Manager closes a running cashier UI.
CloseApplications=yes
RestartApplications=no
UninstallDisplayName=echeck {#AppVersion}
SignTool=signtool
SignedUninstaller=yes

[Files]
Source: "{#BuildDir}\*"; DestDir: "{app}\versions\{#AppVersion}"; Flags: recursesubdirs createallsubdirs ignoreversion
Source: "winsw\WinSW-x64.exe"; DestDir: "{app}"; DestName: "{#ServiceExe}"; Flags: ignoreversion
Source: "echeck-ui.cmd"; DestDir: "{app}"; Flags: ignoreversion
Source: "echeck-update.cmd"; DestDir: "{app}"; Flags: ignoreversion
Source: "agent.toml"; DestDir: "{commonappdata}\echeck"; Flags: onlyifdoesntexist uninsneveruninstall

[Dirs]
Name: "{commonappdata}\echeck"; Flags: uninsneveruninstall
Name: "{commonappdata}\echeck\data"; Flags: uninsneveruninstall
Name: "{commonappdata}\echeck\logs"; Flags: uninsneveruninstall

[Registry]
; The cashier's UI starts at every user's logon (through the launcher, which follows {app}\current).
Root: HKLM; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "echeck-ui"; ValueData: """{app}\echeck-ui.cmd"""; Flags: uninsdeletevalue

[Run]
; The service's XML, written by the agent's own glue (agent/winservice.py) so that it matches what an
; update rewrites; then install and start. The scheduled task runs the update applier as SYSTEM, outside
; the service's process tree (WinSW stops the service's children with it).
Filename: "{app}\versions\{#AppVersion}\echeck-agent\echeck-agent.exe"; Parameters: "--config ""{commonappdata}\echeck\agent.toml"" service-xml --winsw ""{app}\{#ServiceExe}"" --root ""{app}"""; Flags: runhidden waituntilterminated
Filename: "{app}\{#ServiceExe}"; Parameters: "install"; Flags: runhidden waituntilterminated
Filename: "{app}\{#ServiceExe}"; Parameters: "start"; Flags: runhidden waituntilterminated
Filename: "{sys}\schtasks.exe"; Parameters: "/Create /F /TN ""echeck\update"" /RU SYSTEM /SC ONCE /ST 00:00 /TR ""\""{app}\echeck-update.cmd\"""""; Flags: runhidden waituntilterminated
Filename: "{app}\echeck-ui.cmd"; Description: "Start the cashier's window"; Flags: postinstall nowait skipifsilent runasoriginaluser

[UninstallRun]
Filename: "{app}\{#ServiceExe}"; Parameters: "stop"; Flags: runhidden waituntilterminated; RunOnceId: "StopService"
Filename: "{app}\{#ServiceExe}"; Parameters: "uninstall"; Flags: runhidden waituntilterminated; RunOnceId: "RemoveService"
Filename: "{sys}\schtasks.exe"; Parameters: "/Delete /F /TN ""echeck\update"""; Flags: runhidden waituntilterminated; RunOnceId: "RemoveTask"

[UninstallDelete]
Type: filesandordirs; Name: "{app}\versions"
Type: files; Name: "{app}\current"

[Code]
// Stop the service before any file is replaced: a running echeck-agent.exe keeps its files locked.
function PrepareToInstall(var NeedsRestart: Boolean): String;
var
  ResultCode: Integer;
begin
  Result := '';
  if FileExists(ExpandConstant('{app}\{#ServiceExe}')) then
  begin
    Exec(ExpandConstant('{app}\{#ServiceExe}'), 'stop', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
    Exec(ExpandConstant('{sys}\taskkill.exe'), '/F /IM echeck-agent.exe', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  end;
end;

// {app}\current names the version the service and the UI launcher start.
procedure CurStepChanged(CurStep: TSetupStep);
begin
  if CurStep = ssPostInstall then
    SaveStringToFile(ExpandConstant('{app}\current'), '{#AppVersion}' + #13#10, False);
end;
