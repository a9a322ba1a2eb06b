"""The popup's hotkey: one key that reaches echeck-ui whichever window has the keyboard.

The popup shows without taking the keyboard, so a barcode scan (a keyboard wedge types digits and Enter)
always reaches the POS. The cashier gives the popup the keyboard with this key (or a click on it). The key is
grabbed only while a prompt is up: the rest of the time the POS keeps it.

On X11, XGrabKey on the root window through python-xlib, its events read on the GUI thread through a
QSocketNotifier; on Windows, RegisterHotKey and a native event filter (`ui.hotkey_win`). Elsewhere (the
offscreen platform of tests, Wayland) there is no hotkey and a click on the popup gives it the keyboard.
"""

import contextlib
import logging
import os
from collections.abc import Iterator

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Signal
from PySide6.QtGui import QGuiApplication

from ui.hotkey_win import HotkeyFilter, Win32Grab

log = logging.getLogger(__name__)


class Hotkey(QObject):
    """`pressed` fires when the key is pressed while grabbed. `grab()` is False when it cannot be grabbed."""

    pressed = Signal()

    def __init__(self, key_name: str) -> None:
        super().__init__()
        self.key_name = key_name
        self._x11: _X11Grab | None = None
        self._notifier: QSocketNotifier | None = None
        self._win: Win32Grab | None = None
        self._filter: HotkeyFilter | None = None
        if QGuiApplication.platformName() == "windows":
            self._use_windows(key_name)
        elif QGuiApplication.platformName() == "xcb" and os.environ.get("DISPLAY"):
            try:
                self._x11 = _X11Grab(key_name)
            except (ImportError, OSError, ValueError) as exc:  # no python-xlib, no display, unknown key
                log.warning(
                    "popup hotkey %s unavailable: %s; a click gives the popup the keyboard", key_name, exc
                )
                return
            self._notifier = QSocketNotifier(self._x11.fileno(), QSocketNotifier.Type.Read, self)
            self._notifier.activated.connect(self._on_readable)

    def _use_windows(self, key_name: str) -> None:
        try:
            self._win = Win32Grab(key_name)
        except (OSError, ValueError) as exc:  # no user32 (not Windows), an unknown key name
            log.warning("popup hotkey %s unavailable: %s; a click gives the keyboard", key_name, exc)
            return
        self._filter = HotkeyFilter(self.pressed.emit)
        app = QCoreApplication.instance()
        if app is not None:
            app.installNativeEventFilter(self._filter)

    @property
    def available(self) -> bool:
        return self._x11 is not None or self._win is not None

    def grab(self) -> bool:
        if self._win is not None:
            if not self._win.grab():
                log.warning("popup hotkey %s is taken by another program; a click still works", self.key_name)
                return False
            return True
        if self._x11 is None:
            return False
        try:
            grabbed = self._x11.grab()
        except _X11Gone as exc:
            self._lost(exc)
            return False
        if not grabbed:
            log.warning("popup hotkey %s is taken by another program; a click still works", self.key_name)
        return grabbed

    def release(self) -> None:
        if self._win is not None:
            self._win.release()
        if self._x11 is not None:
            try:
                self._x11.release()
            except _X11Gone as exc:
                self._lost(exc)

    def close(self) -> None:
        if self._win is not None:
            self._win.release()
            self._win = None
        app = QCoreApplication.instance()
        if self._filter is not None and app is not None:
            app.removeNativeEventFilter(self._filter)
            self._filter = None
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        if self._x11 is not None:
            self._x11.close()
            self._x11 = None

    def _on_readable(self) -> None:
        if self._x11 is None:
            return
        try:
            presses = self._x11.key_presses()
        except _X11Gone as exc:
            self._lost(exc)
            return
        if presses:
            self.pressed.emit()

    def _lost(self, exc: Exception) -> None:
        log.warning("popup hotkey %s lost its X connection: %s", self.key_name, exc)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        self._x11 = None


class _X11Gone(Exception):
    """Our X connection broke (the X server went away): the hotkey is gone, the popup still works."""


class _X11Grab:
    """XGrabKey on the root window of our own X connection (NumLock and CapsLock states included)."""

    def __init__(self, key_name: str) -> None:
        from Xlib import XK, display  # Linux only (pyproject marker); imported where X11 is in use
        from Xlib.error import DisplayError

        try:
            self._display = display.Display()
        except DisplayError as exc:
            raise OSError(str(exc)) from exc
        keysym = XK.string_to_keysym(key_name)
        keycode = self._display.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            self._display.close()
            raise ValueError(f"no key named {key_name!r} on this keyboard (X keysym names: F12, Pause, ...)")
        self._keycode = keycode
        self._root = self._display.screen().root
        self._grabbed = False

    def fileno(self) -> int:
        return int(self._display.fileno())

    def _modifier_sets(self) -> tuple[int, ...]:
        from Xlib import X

        return (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)  # Mod2 is NumLock

    def grab(self) -> bool:
        with _x11_errors():
            return self._grab()

    def _grab(self) -> bool:
        from Xlib import X, error

        if self._grabbed:
            return True
        refused = error.CatchError(error.BadAccess)
        for modifiers in self._modifier_sets():
            self._root.grab_key(
                self._keycode, modifiers, True, X.GrabModeAsync, X.GrabModeAsync, onerror=refused
            )
        self._display.sync()
        self._grabbed = refused.get_error() is None
        if not self._grabbed:
            self.release()
        return self._grabbed

    def release(self) -> None:
        with _x11_errors():
            for modifiers in self._modifier_sets():
                self._root.ungrab_key(self._keycode, modifiers)
            self._display.sync()
        self._grabbed = False

    def key_presses(self) -> int:
        from Xlib import X

        presses = 0
        with _x11_errors():
            while self._display.pending_events():
                event = self._display.next_event()
                if event.type == X.KeyPress and event.detail == self._keycode:
                    presses += 1
        return presses

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed by the server: nothing left to free
            self._display.close()


@contextlib.contextmanager
def _x11_errors() -> Iterator[None]:
    from Xlib.error import ConnectionClosedError

    try:
        yield
    except (ConnectionClosedError, OSError) as exc:
        raise _X11Gone(str(exc)) from exc
