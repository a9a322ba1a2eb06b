"""On a real X server (Xvfb + openbox): a barcode scan while the popup is up reaches the POS, not the popup.

Real processes throughout: the agent served over loopback HTTP, `echeck-ui` (xcb platform) long-polling it,
a POS window (`tests.ui.pos_window`) that has the keyboard and says what it receives, and xdotool typing
through the X server's keyboard (XTEST) like a keyboard-wedge scanner and like the cashier.
"""

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.bootstrap import Agent, create_app
from agent.config import load_config
from agent.local_schemas import SECRET_FILE
from tests.support.live_server import live_server
from tests.ui.conftest import Till, wait_listening
from tests.ui.xdesktop import XDesktop, missing_tools, x_desktop

WAIT_S = 30.0
SCAN = "4607001234567"  # an EAN-13, as a keyboard-wedge scanner types it: digits then Enter
SCANNER_DELAY_MS = "2"  # between keys: a fast scanner (≤ 30 ms a key), still fast when the machine is loaded


@dataclass
class PosWindow:
    """The POS's window in its own process; `lines` gets what it says (`key 4`, `key Return`, `active`)."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    window: int

    def expect(self, wanted: list[str]) -> None:
        """The next key lines are exactly `wanted` (activation lines skipped)."""
        got: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < len(wanted):
            left = deadline - time.monotonic()
            assert left > 0, f"the POS got {got}, expected {wanted}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("key "):
                got.append(line)
        assert got == wanted

    def drain(self) -> list[str]:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return out


@dataclass
class Desk:
    x: XDesktop
    pos_window: PosWindow
    till: Till


def until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.05)


def start_pos_window(x: XDesktop) -> PosWindow:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.pos_window"], env=x.env, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())

    threading.Thread(target=read, name="pos-window", daemon=True).start()
    until(lambda: x.visible_window("POS"), "the POS window is mapped")
    window = x.visible_window("POS")
    assert window is not None
    until(lambda: x.active_window() == window, "the POS window has the keyboard")
    return PosWindow(process, lines, window)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    missing = missing_tools()
    if missing:  # never skipped: ./run installs them as root on Debian
        pytest.fail(f"missing {', '.join(missing)}: apt-get install xvfb openbox xdotool (./run test does)")
    tmp: Path = tmp_path_factory.mktemp("x11")
    data_dir = tmp / "agent"
    config = load_config(tmp / "none.toml", env={}, overrides={"data_dir": data_dir, "credentials": "file"})
    agent = Agent(config)
    with (
        x_desktop() as x,
        live_server(create_app(agent)) as url,
        httpx.Client(base_url=url + "/pos/v1", timeout=WAIT_S * 3) as pos,
    ):
        pos_window = start_pos_window(x)
        secret = str(data_dir / SECRET_FILE)
        command = [sys.executable, "-m", "ui.cli", "--agent", url, "--secret-file", secret, "--no-tray"]
        ui = subprocess.Popen(
            [*command, "--timeout", "120", "--hotkey", "F12"],
            env=x.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        till = Till(pos, url, data_dir, agent)
        try:
            wait_listening(till)
            yield Desk(x, pos_window, till)
        finally:
            for proc in (ui, pos_window.process):
                proc.kill()
                proc.wait(timeout=10)


def scan(x: XDesktop) -> None:
    """A keyboard-wedge scanner: the digits and Enter at scanner speed, in one go."""
    x.xdotool("key", "--delay", SCANNER_DELAY_MS, *SCAN, "Return")  # keysyms 4, 6, 0, …, Return


def popup_up(desk: Desk, cid: str) -> tuple[Future[dict], int]:
    """The POS asks; returns its pending answer and the popup's window once it is mapped."""
    desk.till.open(cid)
    answer = desk.till.ask(cid, wait=120)
    until(lambda: desk.x.visible_window("echeck"), "the popup is shown")
    popup = desk.x.visible_window("echeck")
    assert popup is not None
    return answer, popup


def test_a_scan_reaches_the_pos_and_f12_gives_the_popup_the_keyboard(desk: Desk) -> None:
    x, pos_window = desk.x, desk.pos_window
    answer, popup = popup_up(desk, "x1")
    assert x.active_window() == pos_window.window  # shown on top, the POS keeps the keyboard

    scan(x)
    pos_window.expect([f"key {d}" for d in SCAN] + ["key Return"])  # every digit and the Enter
    assert not answer.done()  # the scan's Enter answered nothing
    assert x.visible_window("echeck") == popup
    assert x.active_window() == pos_window.window

    x.xdotool("key", "F12")  # the cashier's key
    until(lambda: x.active_window() == popup, "F12 gives the popup the keyboard")
    x.type_slowly("89161234567")  # 8 916 123-45-67, as cashiers type it
    x.xdotool("key", "Return")
    until(answer.done, "the popup answers the POS")
    # the field was empty when the cashier started typing: the barcode never went into it
    assert (answer.result()["answer"], answer.result()["contact_masked"]) == ("contact", "+7 *** ***-45-67")

    until(lambda: x.active_window() == pos_window.window, "the POS has the keyboard back")
    pos_window.drain()
    x.xdotool("type", "5")
    pos_window.expect(["key 5"])


def test_a_scan_while_the_popup_has_the_keyboard_is_handed_to_the_pos(desk: Desk) -> None:
    x, pos_window = desk.x, desk.pos_window
    answer, popup = popup_up(desk, "x3")
    x.xdotool("key", "F12")
    until(lambda: x.active_window() == popup, "F12 gives the popup the keyboard")
    x.type_slowly("916")  # the cashier starts typing the phone ...
    pos_window.drain()
    scan(x)  # ... and a colleague scans an item meanwhile
    pos_window.expect([f"key {d}" for d in SCAN] + ["key Return"])  # typed into the POS after all
    until(lambda: x.active_window() == pos_window.window, "the POS has the keyboard again")
    assert not answer.done()  # the scan's Enter answered nothing
    x.xdotool("key", "F12")
    until(lambda: x.active_window() == popup, "F12 gives the popup the keyboard again")
    x.type_slowly("1234567")  # the field still holds 916: the scan was undone
    x.xdotool("key", "Return")
    until(answer.done, "the popup answers the POS")
    assert (answer.result()["answer"], answer.result()["contact_masked"]) == ("contact", "+7 *** ***-45-67")


def test_a_touch_gives_the_popup_the_keyboard(desk: Desk) -> None:
    x, pos_window = desk.x, desk.pos_window
    answer, popup = popup_up(desk, "x2")
    assert x.active_window() == pos_window.window
    x.xdotool("mousemove", "--window", str(popup), "60", "60", "click", "1")
    until(lambda: x.active_window() == popup, "a click gives the popup the keyboard")
    x.xdotool("key", "Escape")
    until(answer.done, "the popup answers the POS")
    assert answer.result()["answer"] == "skipped"
    until(lambda: x.active_window() == pos_window.window, "the POS has the keyboard back")
