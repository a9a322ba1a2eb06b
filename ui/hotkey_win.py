"""The popup's hotkey on Windows: RegisterHotKey while a prompt is up, WM_HOTKEY read by a Qt native
event filter.

Registered with no window (hwnd NULL), so Windows posts WM_HOTKEY to the GUI thread's message queue; Qt's
event dispatcher hands every message it takes from that queue to the native event filters as
"windows_dispatcher_MSG" (window messages also come as "windows_generic_MSG"). The process that receives a
hotkey may bring its own window to the front, which is what lets Qt's `activateWindow` give the popup the
keyboard there. The key names are X keysym names (F12, Pause, Scroll_Lock), the same `--hotkey` on both
systems. Importable on any system: only `Win32Grab` with the real user32 needs Windows.
"""

import ctypes
import logging
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray

log = logging.getLogger(__name__)

WM_HOTKEY = 0x0312
MOD_NOREPEAT = 0x4000  # a key held down sends one WM_HOTKEY, not one per auto-repeat
HOTKEY_ID = 0xEC01  # an application's own ids are 0x0000..0xBFFF
_EVENT_TYPES = (b"windows_dispatcher_MSG", b"windows_generic_MSG")
_NAMED_KEYS = {  # X keysym name -> Windows virtual-key code
    "Pause": 0x13,
    "Scroll_Lock": 0x91,
    "Print": 0x2C,
    "Insert": 0x2D,
    "Home": 0x24,
    "End": 0x23,
    "Prior": 0x21,
    "Next": 0x22,
    "Escape": 0x1B,
}


def virtual_key(name: str) -> int:
    """The virtual-key code of an X keysym name: F1..F24, A..Z, 0..9 and the keys in `_NAMED_KEYS`."""
    if name in _NAMED_KEYS:
        return _NAMED_KEYS[name]
    if len(name) > 1 and name[0] in "Ff" and name[1:].isdigit() and 1 <= int(name[1:]) <= 24:
        return 0x70 + int(name[1:]) - 1  # VK_F1 = 0x70
    if len(name) == 1 and name.isascii() and name.isalnum():
        return ord(name.upper())  # VK_0..VK_9 and VK_A..VK_Z are their ASCII codes
    known = ", ".join(["F1..F24", "A..Z", "0..9", *_NAMED_KEYS])
    raise ValueError(f"no key named {name!r} for Windows (known: {known})")


class _Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_long), ("y", ctypes.c_long)]


class MSG(ctypes.Structure):
    """Win32's MSG, the structure a native event's pointer points to."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint),
        ("wParam", ctypes.c_size_t),
        ("lParam", ctypes.c_ssize_t),
        ("time", ctypes.c_uint32),
        ("pt", _Point),
        ("lPrivate", ctypes.c_uint32),
    ]


class HotkeyFilter(QAbstractNativeEventFilter):
    """Calls `on_press` for our WM_HOTKEY and swallows it; every other message goes on untouched."""

    def __init__(self, on_press: Callable[[], None]) -> None:
        super().__init__()
        self._on_press = on_press

    def nativeEventFilter(  # noqa: N802 (Qt's name)
        self, event_type: QByteArray | bytes | bytearray | memoryview, message: int, /
    ) -> object:
        kind = event_type.data() if isinstance(event_type, QByteArray) else bytes(event_type)
        if kind not in _EVENT_TYPES or not message:
            return False, 0
        msg = MSG.from_address(int(message))
        if msg.message != WM_HOTKEY or msg.wParam != HOTKEY_ID:
            return False, 0
        self._on_press()
        return True, 0


class User32(Protocol):
    """The two calls of user32.dll used here (a test passes a fake of this third-party API)."""

    def RegisterHotKey(self, hwnd: int | None, id: int, modifiers: int, vk: int) -> int: ...  # noqa: N802
    def UnregisterHotKey(self, hwnd: int | None, id: int) -> int: ...  # noqa: N802


class Win32Grab:
    """The key registered only while grabbed, so the POS has it the rest of the time."""

    def __init__(self, key_name: str, user32: User32 | None = None) -> None:
        self.vk = virtual_key(key_name)
        # ctypes.WinDLL exists only on Windows (an AttributeError elsewhere, said as an OSError)
        windll = getattr(ctypes, "WinDLL", None)
        if user32 is None and windll is None:
            raise OSError("user32.dll is Windows's")
        self._user32: Any = user32 if user32 is not None else windll("user32", use_last_error=True)  # type: ignore[misc]
        self._grabbed = False

    def grab(self) -> bool:
        """False when another program registered the key first (RegisterHotKey refuses it)."""
        if not self._grabbed:
            self._grabbed = bool(self._user32.RegisterHotKey(None, HOTKEY_ID, MOD_NOREPEAT, self.vk))
        return self._grabbed

    def release(self) -> None:
        if self._grabbed:
            self._user32.UnregisterHotKey(None, HOTKEY_ID)
            self._grabbed = False
