"""The local API against other programs on the machine and web pages (DNS rebinding), over real HTTP."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agent.bootstrap import Agent, create_app
from agent.cli import main
from agent.config import load_config
from agent.local_schemas import SECRET_FILE, SECRET_HEADER
from agent.service import CheckoutService
from pos_plugin.contract import CardRequest, CheckoutState, CloseRequest, OpenRequest, TooManyCheckouts
from pos_plugin.simulator import simulate
from receipts.examples import REFERENCE_SALE
from sync.outbox import Outbox
from tests.support.live_server import live_server


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\ncredentials = "file"\n{extra}', encoding="utf-8"
    )
    return path


@contextmanager
def serve(tmp_path: Path, extra: str = "") -> Iterator[str]:
    agent = Agent(load_config(write_config(tmp_path, extra), env={}))
    with live_server(create_app(agent)) as url:
        yield url


def token_of(tmp_path: Path, capsys: pytest.CaptureFixture[str], *more: str) -> str:
    assert main(["--config", str(tmp_path / "agent.toml"), "pos-token", *more]) == 0
    return capsys.readouterr().out.strip()


def test_a_foreign_host_is_refused_on_every_endpoint(tmp_path: Path) -> None:
    with serve(tmp_path, 'allowed_hosts = ["till3.store12.lan"]\n') as url:
        port = url.rsplit(":", 1)[1]
        for path in ("/pos/v1/checkouts/x", "/agent/v1/status", "/agent/v1/prompts", "/docs", "/healthz"):
            refused = httpx.get(url + path, headers={"Host": "rebind.attacker.example"})
            assert refused.status_code == 403, path
            assert "rebind.attacker.example" in refused.json()["detail"]
        opened = httpx.post(
            url + "/pos/v1/checkouts", json={}, headers={"Host": f"rebind.attacker.example:{port}"}
        )
        assert opened.status_code == 403
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"[::1]:{port}",
            "till3.store12.lan",
            "LOCALHOST",
        ):
            assert httpx.get(url + "/healthz", headers={"Host": host}).status_code == 200, host


def test_no_token_is_401_where_one_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(tmp_path, "require_pos_token = true\n") as url:
        token = token_of(tmp_path, capsys)
        pos = url + "/pos/v1/checkouts"
        missing = httpx.post(pos, json={})
        assert missing.status_code == 401
        assert "echeck-agent pos-token" in missing.json()["detail"]
        assert httpx.post(pos, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(pos, json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 201
        # rotated while the agent runs: the old token stops working at once, the new one works
        new = token_of(tmp_path, capsys, "--rotate")
        assert new != token
        assert httpx.post(pos, json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert httpx.post(pos, json={}, headers={"Authorization": f"Bearer {new}"}).status_code == 201


def test_beyond_loopback_the_token_is_required_without_asking(tmp_path: Path) -> None:
    # configured to listen on every interface (served on loopback here): the token is required
    with serve(tmp_path, 'listen_host = "0.0.0.0"\n') as url:
        assert httpx.post(url + "/pos/v1/checkouts", json={}).status_code == 401


def test_on_loopback_by_default_no_token_is_needed_but_a_wrong_one_is_refused(tmp_path: Path) -> None:
    with serve(tmp_path) as url:
        assert httpx.post(url + "/pos/v1/checkouts", json={}).status_code == 201
        wrong = httpx.post(url + "/pos/v1/checkouts", json={}, headers={"Authorization": "Bearer stale"})
        assert wrong.status_code == 401


def test_the_openapi_document_names_the_pos_token(tmp_path: Path) -> None:
    with serve(tmp_path) as url:
        doc = httpx.get(url + "/openapi.json").json()
    assert doc["components"]["securitySchemes"]["POS token"]["scheme"] == "bearer"
    assert {"POS token": []} in doc["paths"]["/pos/v1/checkouts"]["post"]["security"]
    assert "401" in doc["paths"]["/pos/v1/checkouts"]["post"]["responses"]


def test_status_without_a_secret_is_a_health_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(tmp_path) as url:
        anonymous = httpx.get(url + "/agent/v1/status").json()
        assert set(anonymous) == {"status", "detail"}
        assert anonymous["status"] == "ok"
        secret = (tmp_path / "data" / SECRET_FILE).read_text().strip()
        as_ui = httpx.get(url + "/agent/v1/status", headers={SECRET_HEADER: secret}).json()
        assert "outbox" in as_ui
        token = token_of(tmp_path, capsys)
        as_pos = httpx.get(url + "/agent/v1/status", headers={"Authorization": f"Bearer {token}"}).json()
        assert "outbox" in as_pos
        wrong = httpx.get(url + "/agent/v1/status", headers={SECRET_HEADER: "guess"}).json()
        assert "outbox" not in wrong


def test_ten_thousand_and_one_opens_never_evict_the_tills_checkout(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        service = CheckoutService(outbox, max_open=100)
        till = service.open(OpenRequest(checkout_id="TILL-1")).checkout_id
        refused = 0
        for n in range(10_001):
            try:
                service.open(OpenRequest(checkout_id=f"flood-{n}"))
            except TooManyCheckouts:
                refused += 1
        assert refused == 10_001 - 99
        assert service.get(till).state is CheckoutState.OPENED
        closed = service.close(till, _close())
        assert closed.queued is True


def test_abandoned_checkouts_make_room_but_a_live_one_stays(tmp_path: Path) -> None:
    now = [0.0]
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        service = CheckoutService(outbox, max_open=3, idle_s=60, clock=lambda: now[0])
        for n in range(3):
            service.open(OpenRequest(checkout_id=f"old-{n}"))
        now[0] = 59
        with pytest.raises(TooManyCheckouts, match="limit 3"):
            service.open(OpenRequest(checkout_id="new-0"))
        service.attach_card("old-1", _card())  # the till's own checkout: still in use
        now[0] = 61
        service.open(OpenRequest(checkout_id="new-1"))  # old-0 was abandoned: forgotten for it
        service.open(OpenRequest(checkout_id="new-2"))  # old-2 too
        assert service.get("old-1").card_number == "2770001"
        with pytest.raises(TooManyCheckouts):
            service.open(OpenRequest(checkout_id="new-3"))


def test_too_many_open_checkouts_is_429_with_the_reason(tmp_path: Path) -> None:
    with serve(tmp_path, "max_open_checkouts = 2\n") as url:
        pos = url + "/pos/v1/checkouts"
        assert httpx.post(pos, json={"checkout_id": "a"}).status_code == 201
        assert httpx.post(pos, json={"checkout_id": "b"}).status_code == 201
        full = httpx.post(pos, json={"checkout_id": "c"})
        assert full.status_code == 429
        assert "limit 2" in full.json()["detail"]
        assert httpx.get(pos + "/a").json()["state"] == "opened"


def test_the_pos_simulator_runs_twice_with_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(tmp_path, "require_pos_token = true\n") as url:
        token = token_of(tmp_path, capsys)
        first = simulate(url, receipts=5, rate=0, members=0.5, seed=1, token=token)
        second = simulate(url, receipts=5, rate=0, members=0.5, seed=1, token=token)
        assert (first.errors, second.errors) == (0, 0)
        assert first.made + first.cancelled == second.made + second.cancelled == 5
        refused = simulate(url, receipts=1, rate=0, members=0, seed=2)
    assert refused.errors == 1
    assert "401 the checkout API needs the POS token" in capsys.readouterr().err


def _close() -> CloseRequest:
    return CloseRequest.model_validate(REFERENCE_SALE)


def _card() -> CardRequest:
    return CardRequest(card_number="2770001")


def test_the_api_docs_load_nothing_from_other_sites(tmp_path: Path) -> None:
    # The page pulled Swagger UI from a CDN: blank on a register without open internet, and third-party
    # script on the page where integrators type the POS token.
    with serve(tmp_path) as url:
        page = httpx.get(url + "/docs")
        assert page.status_code == 200
        assert "https://" not in page.text
        for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
            assert asset in page.text
            assert httpx.get(url + asset).status_code == 200, asset
        refused = httpx.get(url + "/docs-assets/swagger-ui.css", headers={"Host": "rebind.attacker.example"})
        assert refused.status_code == 403
