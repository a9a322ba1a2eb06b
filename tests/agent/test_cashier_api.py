"""The cashier UI's prompt channel over real HTTP: a real agent, a POS thread asking, a UI answering."""

import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from agent.bootstrap import Agent, create_app
from agent.config import load_config
from agent.local_schemas import SECRET_FILE, SECRET_HEADER, PromptsPage
from receipts.examples import REFERENCE_SALE
from tests.support.live_server import live_server


@dataclass
class Bench:
    pos: httpx.Client
    ui: httpx.Client
    data_dir: Path
    agent: Agent
    _listening: threading.Event = field(default_factory=threading.Event)
    _listener: threading.Thread | None = None

    def listen(self) -> None:
        """A cashier UI long-polls in the background, as the real one does: the agent asks it, not no_ui."""
        self._listening.set()

        def poll() -> None:
            since = -1
            while self._listening.is_set():
                since = self.ui.get("/prompts", params={"since": since, "wait": 0.5}).json()["version"]

        self._listener = threading.Thread(target=poll, name="ui-listener", daemon=True)
        self._listener.start()
        wait_for(self.agent.checkouts.prompts.ui_connected)

    def stop_listening(self) -> None:
        """The UI is gone: once the agent has noticed, asks are answered no_ui at once."""
        self.quit_ui()
        wait_for(lambda: not self.agent.checkouts.prompts.ui_connected())

    def quit_ui(self) -> None:
        self._listening.clear()
        if self._listener is not None:
            self._listener.join(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        time.sleep(0.02)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """A real agent with a cashier UI listening (see `Bench.stop_listening` for the no-UI cases)."""
    data_dir = tmp_path / "agent"
    config = load_config(overrides={"data_dir": data_dir, "credentials": "file"}, env={}, path=tmp_path / "x")
    agent = Agent(config)
    with live_server(create_app(agent)) as url:
        secret = (data_dir / SECRET_FILE).read_text().strip()
        with (
            httpx.Client(base_url=url + "/pos/v1", timeout=30) as pos,
            httpx.Client(base_url=url + "/agent/v1", headers={SECRET_HEADER: secret}, timeout=30) as ui,
        ):
            bench = Bench(pos, ui, data_dir, agent)
            bench.listen()
            yield bench
            bench.quit_ui()


def open_checkout(pos: httpx.Client, cid: str, phone: str | None = None) -> None:
    pos.post("/checkouts", json={"checkout_id": cid}).raise_for_status()
    if phone:
        pos.post(f"/checkouts/{cid}/card", json={"card_number": "277", "phone": phone}).raise_for_status()


def ask_in_background(pos: httpx.Client, cid: str, wait: float) -> Future[httpx.Response]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(pos.post, f"/checkouts/{cid}/ask-contact", params={"wait": wait})
    pool.shutdown(wait=False)
    return future


def next_prompts(ui: httpx.Client, since: int = -1) -> PromptsPage:
    """Long-polls until at least one prompt is open (bounded by the test timeout)."""
    while True:
        page = PromptsPage.model_validate(ui.get("/prompts", params={"since": since, "wait": 5}).json())
        if page.prompts:
            return page
        since = page.version


def test_secret_file_is_private_and_required(bench: Bench) -> None:
    path = bench.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    base = str(bench.ui.base_url)
    assert httpx.get(base + "prompts").status_code == 401
    assert httpx.get(base + "prompts", headers={SECRET_HEADER: "guess"}).status_code == 401
    assert httpx.post(base + "prompts/x/answer", json={"kind": "skipped"}).status_code == 401
    assert bench.ui.get("/prompts").status_code == 200


def test_pos_waits_and_the_ui_confirms_the_card_holder(bench: Bench) -> None:
    open_checkout(bench.pos, "c1", phone="+7 916 123 45 67")
    pending = ask_in_background(bench.pos, "c1", wait=20)
    prompt = next_prompts(bench.ui).prompts[0]
    assert (prompt.checkout_id, prompt.mode, prompt.phone_tail) == ("c1", "confirm", "45-67")
    assert 0 < prompt.expires_in_s <= 20
    assert prompt.landing_url is None  # not enrolled: no cloud, no QR
    result = bench.ui.post(f"/prompts/{prompt.prompt_id}/answer", json={"kind": "confirmed"}).json()
    assert result == {"accepted": True}
    answer = pending.result(timeout=20).json()
    assert (answer["answer"], answer["contact_masked"]) == ("confirmed", "+7 *** ***-45-67")


def test_typed_contact_is_validated_before_it_is_accepted(bench: Bench) -> None:
    open_checkout(bench.pos, "c2")
    pending = ask_in_background(bench.pos, "c2", wait=20)
    prompt = next_prompts(bench.ui).prompts[0]
    assert prompt.mode == "enter"
    url = f"/prompts/{prompt.prompt_id}/answer"
    bad = bench.ui.post(url, json={"kind": "contact", "contact": "12ab"})
    assert bad.status_code == 422
    assert "phone" in bad.json()["detail"]
    assert bench.ui.post(url, json={"kind": "contact"}).status_code == 422
    assert bench.ui.post(url, json={"kind": "contact", "contact": "8 (916) 765-43-21"}).json()["accepted"]
    answer = pending.result(timeout=20).json()
    assert (answer["answer"], answer["contact_masked"]) == ("contact", "+7 *** ***-43-21")
    # a second answer to the same prompt is refused politely: the UI just closes
    assert bench.ui.post(url, json={"kind": "skipped"}).json() == {"accepted": False}


def test_no_ui_connected_is_answered_at_once(bench: Bench) -> None:
    bench.stop_listening()
    open_checkout(bench.pos, "c3")
    answer = bench.pos.post("/checkouts/c3/ask-contact", params={"wait": 120}, timeout=60).json()
    assert (answer["answer"], answer["contact_masked"]) == ("no_ui", None)  # not after 120 s: the timeout
    closed = bench.pos.post("/checkouts/c3/close", json=REFERENCE_SALE).json()
    assert closed["queued"] is True
    assert closed["contact_masked"] is None


def test_pos_cancelling_withdraws_the_prompt_from_the_long_poll(bench: Bench) -> None:
    open_checkout(bench.pos, "c4")
    pending = ask_in_background(bench.pos, "c4", wait=20)
    page = next_prompts(bench.ui)
    seen: list[PromptsPage] = []
    params = {"since": page.version, "wait": 20}
    poll = threading.Thread(
        target=lambda: seen.append(PromptsPage.model_validate(bench.ui.get("/prompts", params=params).json()))
    )
    poll.start()
    bench.pos.post("/checkouts/c4/cancel").raise_for_status()
    poll.join(timeout=20)
    assert seen[0].prompts == []
    assert pending.result(timeout=20).json()["answer"] == "withdrawn"


def test_without_wait_the_pos_still_gets_the_prompt_to_show_itself(bench: Bench) -> None:
    open_checkout(bench.pos, "c5")
    prompt = bench.pos.post("/checkouts/c5/ask-contact").json()
    assert (prompt["mode"], prompt["answer"]) == ("enter", None)
    assert bench.ui.get("/prompts").json()["prompts"] == []


def test_recent_receipts_show_masked_contacts_and_sync_now(bench: Bench) -> None:
    open_checkout(bench.pos, "c6")
    bench.pos.post("/checkouts/c6/contact", json={"contact": "ivan@mail.ru"}).raise_for_status()
    bench.pos.post("/checkouts/c6/close", json=REFERENCE_SALE).raise_for_status()
    recent = bench.ui.get("/receipts/recent").json()["receipts"]
    assert [(r["contact_masked"], r["state"], r["total"]) for r in recent] == [
        ("i***@mail.ru", "pending", REFERENCE_SALE["total"])
    ]
    assert bench.ui.post("/sync-now").json() == {"woken": False}  # not enrolled: no worker to wake


def test_a_ui_that_listens_but_does_not_answer_means_timed_out(bench: Bench) -> None:
    open_checkout(bench.pos, "c7")
    answer = bench.pos.post("/checkouts/c7/ask-contact", params={"wait": 0.3}).json()
    assert (answer["answer"], answer["contact_masked"]) == ("timed_out", None)


def test_pos_simulator_can_let_the_agent_ask(bench: Bench) -> None:
    from pos_plugin.simulator import simulate

    bench.stop_listening()
    base = str(bench.pos.base_url).removesuffix("/pos/v1/")
    report = simulate(base, receipts=3, rate=0, members=0.5, seed=1, ask_agent_s=0.2)
    # no UI is running: every checkout goes on without a contact
    assert (report.made + report.cancelled, report.errors, report.with_contact) == (3, 0, 0)
