"""Handing a scan back to the POS (X11): give the keyboard back to the window that had it, type the keys.

Used when a scan arrives while the cashier has given the popup the keyboard (`ui.scanner` recognises it):
the popup asks the window manager to activate the POS's window again (_NET_ACTIVE_WINDOW, as a pager does)
and types the barcode and Enter into it through XTEST, as the scanner did. Elsewhere there is no way to
type into another program: the popup then only gives the keyboard back and says so in the log.
"""

import logging
import os
import time

from PySide6.QtGui import QGuiApplication

log = logging.getLogger(__name__)
ACTIVATE_WAIT_S = 1.0  # the window manager normally switches within milliseconds


class HandBack:
    """Remembers which window had the keyboard before the popup took it; types a scan back into it."""

    def __init__(self) -> None:
        self._display = None
        self._previous: int | None = None
        if QGuiApplication.platformName() == "xcb" and os.environ.get("DISPLAY"):
            try:
                from Xlib import display
                from Xlib.error import DisplayError

                try:
                    self._display = display.Display()
                except DisplayError as exc:
                    raise OSError(str(exc)) from exc
                if not self._display.has_extension("XTEST"):
                    raise OSError("the X server has no XTEST extension")
            except (ImportError, OSError) as exc:
                log.warning("scans typed into the popup cannot be handed to the POS: %s", exc)
                self._display = None

    @property
    def available(self) -> bool:
        return self._display is not None

    def remember_active(self) -> None:
        """Before the popup takes the keyboard: which window has it now (the POS)."""
        self._previous = self._active() if self._display is not None else None

    def type_into_previous(self, text: str) -> bool:
        """Activate the remembered window and type `text` (digits, then Enter for '\\n') into it."""
        if self._display is None or self._previous is None:
            return False
        try:
            return self._hand_back(self._previous, text)
        except Exception as exc:  # an X error must never take the popup down; the scan is then lost
            log.warning("scan not handed back to the POS: %s", exc)
            return False

    def close(self) -> None:
        if self._display is not None:
            self._display.close()
            self._display = None

    def _active(self) -> int | None:
        from Xlib import X

        assert self._display is not None
        atom = self._display.intern_atom("_NET_ACTIVE_WINDOW")
        prop = self._display.screen().root.get_full_property(atom, X.AnyPropertyType)
        return int(prop.value[0]) if prop is not None and len(prop.value) else None

    def _hand_back(self, window_id: int, text: str) -> bool:
        from Xlib import XK, X
        from Xlib.ext import xtest
        from Xlib.protocol import event

        conn = self._display
        assert conn is not None
        root = conn.screen().root
        message = event.ClientMessage(
            window=conn.create_resource_object("window", window_id),
            client_type=conn.intern_atom("_NET_ACTIVE_WINDOW"),
            data=(32, [2, X.CurrentTime, 0, 0, 0]),  # 2: asked for by a pager-like tool, honoured at once
        )
        root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        conn.sync()
        deadline = time.monotonic() + ACTIVATE_WAIT_S
        while self._active() != window_id:
            if time.monotonic() > deadline:
                log.warning("the POS window did not take the keyboard back; scan not typed")
                return False
            time.sleep(0.005)
        for char in text:
            keysym = XK.XK_Return if char == "\n" else XK.string_to_keysym(char)
            keycode = conn.keysym_to_keycode(keysym)
            xtest.fake_input(conn, X.KeyPress, keycode)
            xtest.fake_input(conn, X.KeyRelease, keycode)
        conn.sync()
        return True
