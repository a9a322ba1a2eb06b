"""A real X desktop for tests: Xvfb, the openbox window manager, xdotool typing like a keyboard.

Debian: `apt-get install xvfb openbox xdotool` (./run does it as root, with the Qt xcb plugin's libraries).
"""

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from Xlib import X, display

TOOLS = ("Xvfb", "openbox", "xdotool")


@dataclass
class XDesktop:
    name: str  # ":7"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
        return {**env, "DISPLAY": self.name, "QT_QPA_PLATFORM": "xcb"}

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(
            ["xdotool", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            preexec_fn=like_hardware,
        )
        return done.stdout.strip()

    def type_slowly(self, text: str, gap_s: float = 0.15) -> None:
        """A cashier: one key at a time, well apart (one xdotool each, so a loaded machine cannot bunch
        them up into something as fast as a scanner)."""
        for char in text:
            self.xdotool("key", char)
            time.sleep(gap_s)

    def active_window(self) -> int | None:
        """The top-level window that has the X input focus (keys go there), not just the WM's say-so."""
        out = self.xdotool("getwindowfocus")
        return int(out) if out.isdigit() else None

    def visible_window(self, title: str) -> int | None:
        ids = self.xdotool("search", "--onlyvisible", "--name", f"^{title}$").split()
        return int(ids[0]) if ids else None


def like_hardware() -> None:
    """Run before exec in Xvfb and xdotool: as root, top CPU priority, so the keys' timing is the
    keyboard's (a scanner's 8 ms a key) even when the test machine is loaded; else as it comes."""
    with contextlib.suppress(OSError):
        os.nice(-20)


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@contextmanager
def x_desktop(timeout_s: float = 30.0) -> Iterator[XDesktop]:
    """Xvfb on a free display number, with openbox managing it; both killed at the end."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=like_hardware,
    )
    os.close(write_fd)
    wm: subprocess.Popen[bytes] | None = None
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()  # Xvfb writes it once it accepts connections
        assert number.isdigit(), f"Xvfb did not start (exit code {xvfb.poll()})"
        desktop = XDesktop(f":{number}")
        wm = subprocess.Popen(
            ["openbox", "--sm-disable"], env=desktop.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_window_manager(desktop.name, timeout_s)
        yield desktop
    finally:
        for proc in (wm, xvfb):
            if proc is not None:
                proc.kill()
                proc.wait(timeout=10)


def _wait_for_window_manager(name: str, timeout_s: float) -> None:
    """Until a WM says it manages the screen (_NET_SUPPORTING_WM_CHECK on the root window)."""
    conn = display.Display(name)
    try:
        atom = conn.intern_atom("_NET_SUPPORTING_WM_CHECK")
        deadline = time.monotonic() + timeout_s
        while conn.screen().root.get_full_property(atom, X.AnyPropertyType) is None:
            assert time.monotonic() < deadline, "openbox did not start managing the X screen"
            time.sleep(0.05)
    finally:
        conn.close()
