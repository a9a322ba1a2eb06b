"""The cashier UI: a POS's ask-contact → the popup visible and taking keys; the UI process's idle RSS.

A real agent is served over loopback HTTP; the real `CashierApp` (offscreen Qt) long-polls it in this
process; a POS thread calls `ask-contact?wait=…` and the clock stops when the popup is shown (it shows
without taking the keyboard: the cashier's F12 or a touch gives it the keyboard).
The popup is answered with Esc (a key event), the POS gets its answer, and the next prompt follows.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks import Figure

TARGET_P95_MS = 100.0


def _latencies(count: int) -> list[float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from agent.bootstrap import Agent, create_app
    from agent.config import load_config
    from agent.local_schemas import SECRET_FILE
    from benchmarks.support.serving import live_server
    from ui.app import CashierApp, UiSettings

    app = QApplication.instance() or QApplication([])
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "agent"
        config = load_config(Path(tmp) / "none.toml", env={}, overrides={"data_dir": data_dir})
        agent = Agent(config)
        with live_server(create_app(agent)) as url, httpx.Client(base_url=url + "/pos/v1") as pos:
            cashier = CashierApp(UiSettings(url, data_dir / SECRET_FILE, poll_wait_s=1.0, tray=False))
            shown_at: list[float] = []
            cashier.popup.shown.connect(lambda: shown_at.append(time.perf_counter()))
            cashier.start()
            deadline = time.monotonic() + 10
            while not agent.checkouts.prompts.ui_connected():  # else the agent answers no_ui at once
                if time.monotonic() > deadline:
                    raise RuntimeError("the UI did not long-poll the agent within 10 s")
                time.sleep(0.01)
            for n in range(count):
                cid = f"B{n}"
                pos.post("/checkouts", json={"checkout_id": cid}).raise_for_status()
                done = threading.Event()
                asked: list[float] = []

                def ask(cid: str = cid, done: threading.Event = done, asked: list[float] = asked) -> None:
                    asked.append(time.perf_counter())
                    pos.post(f"/checkouts/{cid}/ask-contact", params={"wait": 10}, timeout=15)
                    done.set()

                shown_at.clear()
                threading.Thread(target=ask, daemon=True).start()
                deadline = time.monotonic() + 10
                while not (shown_at and cashier.popup.isVisible()) and time.monotonic() < deadline:
                    app.processEvents()
                    time.sleep(0.0005)
                if not cashier.popup.isVisible():
                    raise RuntimeError(f"prompt {n}: the popup was not shown within 10 s")
                samples.append((shown_at[0] - asked[0]) * 1000)
                key = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
                QApplication.sendEvent(cashier.popup, key)
                while not done.is_set():
                    app.processEvents()
                    time.sleep(0.0005)
            cashier.stop()
    return samples


def _idle_rss_mb(settle_s: float) -> float | None:
    """RSS of a real `echeck-ui` process (offscreen, tray on, no agent to talk to) after it settles."""
    if not Path("/proc/self/status").exists():
        return None
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--agent", "http://127.0.0.1:9"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(settle_s)
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None
    finally:
        proc.kill()
        proc.wait(timeout=10)


def run(quick: bool) -> list[Figure]:
    samples = sorted(_latencies(20 if quick else 200))
    p95 = statistics.quantiles(samples, n=20)[-1]
    name = f"POS ask → popup shown (n={len(samples)})"
    figures = [
        Figure("ui", name + ", p50", statistics.median(samples), "ms"),
        Figure("ui", name + ", p95", p95, "ms", f"≤ {TARGET_P95_MS:.0f} ms", p95 <= TARGET_P95_MS),
    ]
    rss = _idle_rss_mb(2.0 if quick else 5.0)
    if rss is not None:
        figures.append(Figure("ui", "echeck-ui RSS at idle (offscreen)", rss, "MB"))
    return figures
