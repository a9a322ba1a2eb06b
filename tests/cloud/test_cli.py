"""`echeck-cloud` as store IT runs it: real subprocesses on a real database."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.app import create_app
from sync.protocol import ENROLL_PATH
from tests.support.live_server import free_port, live_server

CLI = str(Path(sys.executable).with_name("echeck-cloud"))


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "--database-url", url, *args], capture_output=True, text=True, timeout=60)


def run_json(url: str, *args: str) -> dict[str, Any]:
    proc = run(url, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_tenant_store_code_then_enroll(database_url: str) -> None:
    assert run(database_url, "migrate").returncode == 0
    tenant = run_json(database_url, "tenant", "add", "Hardware Chain")
    assert tenant["name"] == "Hardware Chain"
    assert tenant["api_key"].startswith("ek_")
    store = run_json(database_url, "store", "add", "--tenant", str(tenant["id"]), "Tverskaya 7")
    assert store["tenant_id"] == tenant["id"]
    code = run_json(database_url, "enroll-code", "--store", str(store["id"]), "--ttl-hours", "1")
    assert code["store_id"] == store["id"]
    assert len(code["code"]) == 9

    with live_server(create_app(database_url)) as base:
        resp = httpx.post(base + ENROLL_PATH, json={"code": code["code"], "hostname": "till-1"})
        assert resp.status_code == 200, resp.text
        listed = httpx.get(base + "/v1/stores", headers={"Authorization": f"Bearer {tenant['api_key']}"})
        assert listed.json()["stores"][0]["registers"][0]["hostname"] == "till-1"

    stores = run_json(database_url, "store", "list", "--tenant", str(tenant["id"]))
    assert stores["stores"][0]["registers"][0]["hostname"] == "till-1"
    tenants = run_json(database_url, "tenant", "list")
    assert [t["name"] for t in tenants["tenants"]] == ["Hardware Chain"]
    human = run(database_url, "store", "list", "--tenant", str(tenant["id"]))
    assert "Tverskaya 7" in human.stdout
    assert "till-1" in human.stdout


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    missing = run(url, "store", "add", "--tenant", "42", "Nowhere")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "echeck-cloud: tenant 42 does not exist (see `echeck-cloud tenant list`)"
    no_store = run(url, "enroll-code", "--store", "7")
    assert no_store.returncode == 1
    assert "store 7 does not exist" in no_store.stderr
    down = run("postgresql://nobody@127.0.0.1:1/x", "tenant", "list")
    assert down.returncode == 1
    assert len(down.stderr.strip().splitlines()) == 1
    assert "Traceback" not in down.stderr + missing.stderr
    usage = run(url, "store", "add", "NoTenant")
    assert usage.returncode == 2
    assert "--tenant" in usage.stderr


def test_help_speaks_to_store_it() -> None:
    proc = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for word in ("serve", "tenant", "store", "enroll-code", "worker", "--database-url"):
        assert word in proc.stdout
    for name in ("worker", "delivery-worker"):  # the old name stays an alias
        sub = subprocess.run([CLI, name, "--help"], capture_output=True, text=True, timeout=30)
        assert sub.returncode == 0, sub.stderr
        assert "--concurrency" in sub.stdout
        assert "--lease" in sub.stdout


def test_serve_migrates_then_answers_with_several_workers(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path}/cloud.db"
    proc = subprocess.Popen(
        [CLI, "--database-url", url, "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # two workers import the app on a possibly loaded machine
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "echeck-cloud serve did not answer"
                time.sleep(0.1)
        assert resp.json() == {"status": "ok", "database": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "Running upgrade" in out
    assert "Traceback" not in out


def test_tenant_and_store_set_what_the_receipt_page_prints(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    tenant = run_json(url, "tenant", "add", "Ромашка")
    store = run_json(url, "store", "add", "--tenant", str(tenant["id"]), "Ленина 1")
    seller = run_json(
        url,
        "tenant",
        "set",
        "--tenant",
        str(tenant["id"]),
        "--legal-name",
        'ООО "Ромашка"',
        "--inn",
        "7707083893",
        "--taxation",
        "osn",
    )
    assert seller == {
        "id": tenant["id"],
        "legal_name": 'ООО "Ромашка"',
        "inn": "7707083893",
        "taxation": "osn",
    }
    place = run_json(
        url,
        "store",
        "set",
        "--store",
        str(store["id"]),
        "--address",
        "г. Москва, ул. Ленина, 1",
        "--place",
        "Магазин «Ромашка»",
        "--time-zone",
        "Europe/Samara",
    )
    assert place["time_zone"] == "Europe/Samara"
    assert place["settlement_place"] == "Магазин «Ромашка»"

    bad_inn = run(url, "tenant", "set", "--tenant", str(tenant["id"]), "--inn", "7707083894")
    assert bad_inn.returncode == 1
    assert "INN '7707083894' is not valid" in bad_inn.stderr
    assert "Traceback" not in bad_inn.stderr
    bad_zone = run(url, "store", "set", "--store", str(store["id"]), "--time-zone", "Moscow")
    assert bad_zone.returncode == 1
    assert "unknown time zone 'Moscow'" in bad_zone.stderr
    unchanged = run_json(url, "store", "set", "--store", str(store["id"]))  # no flag changes nothing
    assert unchanged["time_zone"] == "Europe/Samara"


@pytest.mark.parametrize(
    "command",
    [["tracking"], ["identity", "block"], ["promo"], ["store", "channel"]],
    ids=lambda c: " ".join(c),
)
def test_the_newer_commands_help_shows_examples(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.cli import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"echeck-cloud {' '.join(command)}" in text
