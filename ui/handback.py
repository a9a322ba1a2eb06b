"""Handing a scan back to the POS (X11): give the keyboard back to the window that had it, type the keys.

It also activates the popup itself for the hotkey (`activate`): the window manager's way, not Qt's.

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

    def activate(self, window_id: int) -> None:
        """Ask the window manager to give that window the keyboard, as a pager does: honoured at once,
        where an application's own request (Qt's, with the time of the last key *it* saw; the hotkey
        came through another connection) may be refused as focus stealing."""
        if self._display is None:
            return
        try:
            self._activate(window_id)
        except Exception as exc:  # the popup still asked through Qt
            log.warning("activation through the window manager failed: %s", exc)

    def _activate(self, window_id: int) -> None:
        from Xlib import X
        from Xlib.protocol import event

        conn = self._display
        assert conn is not None
        message = event.ClientMessage(
            window=conn.create_resource_object("window", window_id),
            client_type=conn.intern_atom("_NET_ACTIVE_WINDOW"),
            data=(32, [2, X.CurrentTime, 0, 0, 0]),  # source 2: a pager-like tool
        )
        mask = X.SubstructureRedirectMask | X.SubstructureNotifyMask
        conn.screen().root.send_event(message, event_mask=mask)
        conn.sync()

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

    def _focus_inside(self, window_id: int) -> bool:
        """The X input focus is on that window or one of its children (Java and Tk focus a child)."""
        assert self._display is not None
        focus = self._display.get_input_focus().focus
        root_id = self._display.screen().root.id
        while hasattr(focus, "id") and focus.id not in (window_id, root_id):  # ints: PointerRoot, None
            focus = focus.query_tree().parent
        return getattr(focus, "id", None) == window_id

    def _hand_back(self, window_id: int, text: str) -> bool:
        from Xlib import XK, X
        from Xlib.ext import xtest

        conn = self._display
        assert conn is not None
        self._activate(window_id)
        deadline = time.monotonic() + ACTIVATE_WAIT_S
        # the WM names the active window first and moves the X input focus to it next: wait for both
        while self._active() != window_id or not self._focus_inside(window_id):
            if time.monotonic() > deadline:
                log.warning("the POS window did not take the keyboard back; scan not typed")
                return False
            time.sleep(0.005)
        keysyms = [XK.XK_Return if c == "\n" else XK.string_to_keysym(c) for c in text]
        keycodes = [conn.keysym_to_keycode(keysym) for keysym in keysyms]
        # The scanner's own Enter may still be down (its release follows the press by a few ms): a press
        # of a key that is down is no key press, so wait for every key we type to be up first.
        while any(self._is_down(keycode) for keycode in keycodes):
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        for keycode in keycodes:
            xtest.fake_input(conn, X.KeyPress, keycode)
            xtest.fake_input(conn, X.KeyRelease, keycode)
        conn.sync()
        return True

    def _is_down(self, keycode: int) -> bool:
        assert self._display is not None
        keymap = self._display.query_keymap()  # 32 bytes, one bit a keycode
        return bool(keymap[keycode // 8] & (1 << (keycode % 8)))
