"""Fleet status for head office: heartbeats with the optional fields, states, problems, clones, the page."""

import gzip
import json
import re
from datetime import UTC, datetime, timedelta

import httpx

from cloud.fleet.health import FleetPolicy, RegisterState, Reported, assess
from sync.protocol import HEARTBEAT_PATH, batch_path
from tests.cloud.conftest import PASSWORD, Cloud, Registered, now_utc, wire_receipt

STATUS = "/v1/fleet/status"


def _beat(cloud: Cloud, reg: Registered, **fields: object) -> httpx.Response:
    body = {"agent_version": "0.2.0", "register_time": now_utc().isoformat(), **fields}
    return cloud.http.post(HEARTBEAT_PATH, json=body, headers=reg.auth)


def _register_view(cloud: Cloud, reg: Registered) -> dict:
    doc = cloud.http.get(STATUS, headers=reg.tenant_auth).raise_for_status().json()
    [store] = [s for s in doc["stores"] if s["id"] == reg.store_id]
    [view] = [r for r in store["registers"] if r["id"] == reg.register_id]
    return view


def test_a_v1_heartbeat_still_works_and_unknown_fields_are_ignored(cloud: Cloud) -> None:
    reg = cloud.register()
    assert _beat(cloud, reg, queue_depth=2).status_code == 200
    assert _beat(cloud, reg, queue_depth=2, some_future_field={"x": 1}).status_code == 200
    view = _register_view(cloud, reg)
    assert view["state"] == "online"
    assert view["queue_depth"] == 2
    assert view["problems"] == []


def test_status_reports_every_fault_a_register_sends(cloud: Cloud) -> None:
    reg = cloud.register()
    ahead = now_utc() + timedelta(minutes=10)
    resp = _beat(
        cloud,
        reg,
        register_time=ahead.isoformat(),
        queue_depth=40,
        oldest_unsynced_age_s=7200.0,
        rejected_count=1,
        instance_id="a" * 32,
        session_id="s1",
        heartbeat_interval_s=30,
        outbox_bytes=600 * 1_048_576,
        outbox_quota_bytes=512 * 1_048_576,
        outbox_recovered=["outbox.corrupt-20261124T101500Z.sqlite3"],
        write_error="the outbox cannot store receipts: database or disk is full",
        dead_letter=["9251440300227597:7:1: items.0.price: bad"],
    )
    assert resp.status_code == 200, resp.text
    view = _register_view(cloud, reg)
    assert view["state"] == "online"
    assert view["clock_off"] is True
    assert view["clock_skew_s"] > 500
    assert view["outbox_over_quota"] is True
    assert view["instance_id"] == "a" * 32
    assert view["dead_letter_count"] == 1
    assert view["oldest_unsynced_age_s"] >= 7200.0
    text = " | ".join(view["problems"])
    for expected in (
        "не может поставить чеки в очередь",
        "повреждённая очередь",
        "больше квоты",
        "часы кассы спешат",
        "облако отклонило чеков: 1",
        "старейший неотправленный чек",
    ):
        assert expected in text, (expected, text)
    # The fault clears when the register says so.
    _beat(cloud, reg, session_id="s1")
    assert _register_view(cloud, reg)["problems"] == []


def test_states_follow_the_policy() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    policy = FleetPolicy(grace_s=30, stale_after_s=900)

    def state(ago: float | None, interval: float | None = 30) -> RegisterState:
        at = None if ago is None else now - timedelta(seconds=ago)
        reported = Reported(at, interval, 0, 0, None, None, None, None, None, [], None, None, None)
        return assess(reported, now, policy).state

    assert state(None) is RegisterState.NEVER_SEEN
    assert state(59) is RegisterState.ONLINE
    assert state(61) is RegisterState.OFFLINE
    assert state(200, interval=300) is RegisterState.ONLINE  # its own interval counts
    assert state(901) is RegisterState.STALE
    assert FleetPolicy.from_env({"ECHECK_FLEET_STALE_S": "60"}).stale_after_s == 60


def test_a_cloned_register_is_flagged_and_a_restart_is_not(cloud: Cloud) -> None:
    reg = cloud.register()
    for session in ("a1", "a2", "a3"):  # one machine restarting: sessions only follow each other
        _beat(cloud, reg, instance_id="machine-a", session_id=session)
    assert _register_view(cloud, reg)["clone_suspected"] is False
    # A copy of the disk image starts with the same token and interleaves with the original.
    _beat(cloud, reg, instance_id="machine-b", session_id="b1")
    _beat(cloud, reg, instance_id="machine-a", session_id="a3")
    view = _register_view(cloud, reg)
    assert view["clone_suspected"] is True
    assert "machine-a и machine-b" in view["clone_detail"]
    assert any("два агента" in p for p in view["problems"])


def test_the_status_is_tenant_scoped(cloud: Cloud) -> None:
    mine = cloud.register()
    theirs = cloud.register()
    _beat(cloud, theirs)
    doc = cloud.http.get(STATUS, headers=mine.tenant_auth).json()
    assert [s["id"] for s in doc["stores"]] == [mine.store_id]
    assert doc["totals"]["registers"] == 1
    assert doc["totals"]["never_seen"] == 1
    assert cloud.http.get(STATUS).status_code == 401


def test_the_fleet_page_needs_a_session_and_escapes_what_registers_send(cloud: Cloud) -> None:
    reg = cloud.register()
    cloud.user(reg.tenant_id, "it@shop.example", "store_it")
    _beat(cloud, reg, last_error="<script>alert(1)</script>")
    assert cloud.http.get("/fleet").headers["location"] == "/reports/fleet"  # moved to the dashboards
    page = cloud.http.get("/reports/fleet")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Freports%2Ffleet"
    bad = cloud.http.post("/login", data={"email": "it@shop.example", "password": "wrong password"})
    assert bad.status_code == 401
    assert "неверный e-mail или пароль" in bad.text
    login = cloud.http.post(
        "/login", data={"email": "it@shop.example", "password": PASSWORD, "next": "/fleet"}
    )
    assert login.status_code == 303
    assert login.headers["location"] == "/fleet"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http on loopback; https sets it
    assert reg.api_key not in cookie  # the cookie holds a random session id, never a key
    page = cloud.http.get("/reports/fleet")
    assert page.status_code == 200
    assert "Tverskaya 7" in page.text
    assert "на связи" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    out = cloud.http.post("/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    assert cloud.http.get("/reports/fleet").status_code == 303


def test_gzip_batches_are_accepted_and_bad_encodings_refused(cloud: Cloud) -> None:
    reg = cloud.register()
    body = json.dumps({"receipts": [wire_receipt(fd) for fd in range(1, 6)]}).encode()
    headers = {**reg.auth, "Content-Type": "application/json"}
    ok = cloud.http.post(
        batch_path(reg.store_id), content=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"}
    )
    assert ok.status_code == 200, ok.text
    assert [a["status"] for a in ok.json()["accepted"]] == ["stored"] * 5
    broken = cloud.http.post(
        batch_path(reg.store_id), content=b"not gzip", headers={**headers, "Content-Encoding": "gzip"}
    )
    assert broken.status_code == 400
    assert "gzip" in broken.json()["detail"]
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))  # 40 MB of spaces in ~40 KB
    assert (
        cloud.http.post(
            batch_path(reg.store_id), content=bomb, headers={**headers, "Content-Encoding": "gzip"}
        ).status_code
        == 413
    )
    other = cloud.http.post(
        batch_path(reg.store_id), content=body, headers={**headers, "Content-Encoding": "br"}
    )
    assert other.status_code == 415


def test_the_fleet_page_shows_the_clock_without_a_minus_zero(cloud: Cloud) -> None:
    # A register 30 ms behind the cloud was shown as "-0.0 с", and "с" wrapped away from its number.
    reg = cloud.register()
    cloud.user(reg.tenant_id, "it@shop.example", "store_it")
    # A few ms either side of the cloud's clock (the request's own latency decides the sign).
    _beat(cloud, reg, register_time=(now_utc() + timedelta(milliseconds=10)).isoformat())
    cloud.http.post("/login", data={"email": "it@shop.example", "password": PASSWORD})
    page = cloud.http.get("/reports/fleet").text
    assert "-0,0" not in page
    assert re.search(r"[+-]\d+,\d\u00a0с", page)
