"""A real agent over loopback HTTP and the real cashier UI (offscreen), wired as in production."""

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PySide6.QtWidgets import QApplication

from agent.bootstrap import Agent, create_app
from agent.config import load_config
from agent.local_schemas import SECRET_FILE
from tests.support.live_server import live_server
from ui.app import CashierApp, UiSettings
from ui.popup import base_font


@dataclass
class Till:
    """The POS side: opens checkouts and asks the agent to ask the cashier, from a background thread."""

    pos: httpx.Client
    url: str
    data_dir: Path
    agent: Agent

    def open(self, cid: str, phone: str | None = None) -> None:
        self.pos.post("/checkouts", json={"checkout_id": cid}).raise_for_status()
        if phone:
            body = {"card_number": "2770001", "holder_name": "Мария", "phone": phone}
            self.pos.post(f"/checkouts/{cid}/card", json=body).raise_for_status()

    def ask(self, cid: str, wait: float = 20) -> Future[dict]:
        pool = ThreadPoolExecutor(1)
        future = pool.submit(
            lambda: (
                self.pos.post(f"/checkouts/{cid}/ask-contact", params={"wait": wait})
                .raise_for_status()
                .json()
            )
        )
        pool.shutdown(wait=False)
        return future


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    data_dir = tmp_path / "agent"
    config = load_config(
        tmp_path / "none.toml", env={}, overrides={"data_dir": data_dir, "credentials": "file"}
    )
    agent = Agent(config)
    with (
        live_server(create_app(agent)) as url,
        httpx.Client(base_url=url + "/pos/v1", timeout=30) as pos,
    ):
        yield Till(pos, url, data_dir, agent)


def make_ui(url: str, secret_file: Path, popup_timeout_s: float = 30) -> CashierApp:
    app = QApplication.instance()
    assert app is not None
    app.setFont(base_font())
    settings = UiSettings(
        url, secret_file, popup_timeout_s=popup_timeout_s, poll_wait_s=1.0, status_every_s=0.5
    )
    cashier = CashierApp(settings)
    cashier.start()
    return cashier


def wait_listening(till: Till, listening: bool = True) -> None:
    """Until the agent sees a cashier UI long-poll (or, listening=False, sees that none does)."""
    prompts = till.agent.checkouts.prompts
    deadline = time.monotonic() + 20
    while prompts.ui_connected() != listening:
        assert time.monotonic() < deadline, f"the agent still says ui_connected={not listening}"
        time.sleep(0.02)


@pytest.fixture
def ui_factory(qapp: QApplication, till: Till) -> Iterator:
    started: list[CashierApp] = []

    def start(popup_timeout_s: float = 30) -> CashierApp:
        cashier = make_ui(till.url, till.data_dir / SECRET_FILE, popup_timeout_s)
        started.append(cashier)
        wait_listening(till)  # as at a real till: the UI runs before the first sale asks
        return cashier

    yield start
    for cashier in started:
        cashier.stop()


@pytest.fixture
def ui(ui_factory) -> CashierApp:
    return ui_factory()
