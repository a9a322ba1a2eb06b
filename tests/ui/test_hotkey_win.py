"""The Windows hotkey's parts that do not need Windows: key names, the grab through user32's two calls (a
fake of that API, recording what a real user32 would be asked), and the native event filter reading a real
MSG structure in memory as Qt's dispatcher hands it over."""

import ctypes

import pytest

from ui.hotkey_win import HOTKEY_ID, MOD_NOREPEAT, MSG, WM_HOTKEY, HotkeyFilter, Win32Grab, virtual_key


class FakeUser32:
    def __init__(self, taken: bool = False) -> None:
        self.taken = taken
        self.calls: list[tuple[object, ...]] = []

    def RegisterHotKey(self, hwnd: int | None, id: int, modifiers: int, vk: int) -> int:  # noqa: N802
        self.calls.append(("register", hwnd, id, modifiers, vk))
        return 0 if self.taken else 1

    def UnregisterHotKey(self, hwnd: int | None, id: int) -> int:  # noqa: N802
        self.calls.append(("unregister", hwnd, id))
        return 1


def test_key_names_are_the_x_keysym_names_of_the_linux_build() -> None:
    assert virtual_key("F12") == 0x7B
    assert virtual_key("F1") == 0x70
    assert virtual_key("F24") == 0x87
    assert virtual_key("Pause") == 0x13
    assert virtual_key("q") == ord("Q")
    with pytest.raises(ValueError, match=r"F1\.\.F24"):
        virtual_key("F25")


def test_the_key_is_registered_only_while_grabbed() -> None:
    user32 = FakeUser32()
    grab = Win32Grab("F12", user32)
    assert grab.grab()
    assert grab.grab()  # a second prompt while grabbed does not register twice
    grab.release()
    grab.release()
    registered = ("register", None, HOTKEY_ID, MOD_NOREPEAT, 0x7B)
    assert user32.calls == [registered, ("unregister", None, HOTKEY_ID)]


def test_a_key_another_program_registered_is_not_grabbed() -> None:
    assert not Win32Grab("F12", FakeUser32(taken=True)).grab()


def test_off_windows_there_is_no_user32_and_the_popup_falls_back_to_a_click() -> None:
    with pytest.raises(OSError, match="Windows"):
        Win32Grab("F12")  # the test suite runs on Linux


def test_the_filter_takes_our_wm_hotkey_and_leaves_every_other_message() -> None:
    presses: list[int] = []
    native = HotkeyFilter(lambda: presses.append(1))
    ours = MSG(message=WM_HOTKEY, wParam=HOTKEY_ID)
    other_hotkey = MSG(message=WM_HOTKEY, wParam=7)
    key_down = MSG(message=0x0100, wParam=0x7B)  # WM_KEYDOWN of F12 in some window
    assert native.nativeEventFilter(b"windows_dispatcher_MSG", ctypes.addressof(ours)) == (True, 0)
    assert native.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(other_hotkey)) == (False, 0)
    assert native.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(key_down)) == (False, 0)
    assert native.nativeEventFilter(b"xcb_generic_event_t", ctypes.addressof(ours)) == (False, 0)
    assert presses == [1]
