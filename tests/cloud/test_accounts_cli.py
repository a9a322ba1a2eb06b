"""`echeck-cloud user|key|register|audit` as the operator runs them: real subprocesses, a real database,
and the results checked over real HTTP."""

import re

import httpx

from cloud.app import create_app
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, receipts_path
from tests.cloud.conftest import now_utc
from tests.cloud.test_cli import run, run_json
from tests.support.live_server import live_server


def _chain(url: str) -> tuple[int, str, int]:
    tenant = run_json(url, "tenant", "add", "Сеть")
    store = run_json(url, "store", "add", "--tenant", str(tenant["id"]), "--region", "Москва", "Тверская 7")
    assert store["region"] == "Москва"
    return tenant["id"], tenant["api_key"], store["id"]


def test_invite_prints_a_one_time_link_that_sets_a_password(database_url: str) -> None:
    tenant_id, _key, store_id = _chain(database_url)
    invited = run(
        database_url,
        "user",
        "invite",
        "--tenant",
        str(tenant_id),
        "--email",
        "Analyst@Shop.example",
        "--role",
        "analyst",
        "--region",
        "Москва",
        "--public-url",
        "https://echeck.example",
    )
    assert invited.returncode == 0, invited.stderr
    link = re.search(r"https://echeck\.example(/invite/\S+)", invited.stdout)
    assert link is not None, invited.stdout
    assert "analyst@shop.example" in invited.stdout
    again = run(
        database_url, "user", "invite", "--tenant", str(tenant_id), "--email", "x@y", "--role", "boss"
    )
    assert again.returncode == 1
    assert "unknown role 'boss'" in again.stderr
    assert "Traceback" not in again.stderr
    with live_server(create_app(database_url)) as base, httpx.Client(base_url=base) as browser:
        done = browser.post(
            link.group(1), data={"password": "a long password", "password2": "a long password"}
        )
        assert done.status_code == 303
        assert browser.get(receipts_path(store_id)).status_code == 200
        assert (
            browser.post(link.group(1), data={"password": "x" * 12, "password2": "x" * 12}).status_code == 410
        )
    listed = run_json(database_url, "user", "list", "--tenant", str(tenant_id))
    assert [(u["email"], u["role"], u["scope"]) for u in listed["users"]] == [
        ("analyst@shop.example", "analyst", "регионы: Москва")
    ]
    audit = run(database_url, "audit", "--tenant", str(tenant_id))
    assert "user.invited" in audit.stdout
    assert "user.joined" in audit.stdout
    assert "user.invited             a***@shop.example" in audit.stdout  # whom: masked; who: named


def test_user_add_then_revoke_sessions_and_disable(database_url: str) -> None:
    tenant_id, _key, _store = _chain(database_url)
    owner = run_json(
        database_url,
        "user",
        "add",
        "--tenant",
        str(tenant_id),
        "--email",
        "o@shop.example",
        "--role",
        "owner",
    )
    assert len(owner["password"]) >= 16  # generated, printed once
    with live_server(create_app(database_url)) as base, httpx.Client(base_url=base) as browser:
        signed = browser.post("/login", data={"email": "o@shop.example", "password": owner["password"]})
        assert signed.status_code == 303
        assert browser.get("/admin/users").status_code == 200
        ended = run_json(
            database_url, "user", "revoke-sessions", "--tenant", str(tenant_id), "--email", "o@shop.example"
        )
        assert ended["sessions_revoked"] == 1
        assert browser.get("/admin/users").status_code == 303  # back to the sign-in page
    reset = run_json(
        database_url,
        "user",
        "reset-password",
        "--tenant",
        str(tenant_id),
        "--email",
        "o@shop.example",
        "--public-url",
        "https://echeck.example",
    )
    assert reset["link"].startswith("https://echeck.example/invite/")
    last = run(database_url, "user", "disable", "--tenant", str(tenant_id), "--email", "o@shop.example")
    assert last.returncode == 1
    assert "последний владелец" in last.stderr


def test_keys_add_list_rotate_and_revoke(database_url: str) -> None:
    tenant_id, first, store_id = _chain(database_url)
    added = run_json(
        database_url, "key", "add", "--tenant", str(tenant_id), "--name", "BI", "--scopes", "read"
    )
    assert added["scopes"] == "read"
    listed = run_json(database_url, "key", "list", "--tenant", str(tenant_id))
    assert [(k["name"], k["scopes"], k["active"]) for k in listed["keys"]] == [
        ("основной ключ", "read,write", True),
        ("BI", "read", True),
    ]
    assert all("api_key" not in k for k in listed["keys"])
    rotated = run_json(database_url, "key", "rotate", "--tenant", str(tenant_id), "--key", str(added["id"]))
    run_json(database_url, "key", "revoke", "--tenant", str(tenant_id), "--key", str(listed["keys"][0]["id"]))
    bad = run(database_url, "key", "add", "--tenant", str(tenant_id), "--name", "x", "--scopes", "admin")
    assert bad.returncode == 1
    assert "scopes are 'read' or 'read,write'" in bad.stderr
    with live_server(create_app(database_url)) as base, httpx.Client(base_url=base) as http:

        def status(key: str) -> int:
            return http.get(receipts_path(store_id), headers={"Authorization": f"Bearer {key}"}).status_code

        assert status(added["api_key"]) == 401  # rotated without grace
        assert status(rotated["api_key"]) == 200
        assert status(first) == 401  # revoked
    log = run(database_url, "audit", "--tenant", str(tenant_id)).stdout
    for action in ("api_key.created", "api_key.rotated", "api_key.revoked"):
        assert action in log
    assert rotated["api_key"] not in log


def test_register_revoke_and_rotate(database_url: str) -> None:
    tenant_id, key, store_id = _chain(database_url)
    code = run_json(database_url, "enroll-code", "--store", str(store_id))["code"]
    beat = {
        "agent_version": "0.1.0",
        "queue_depth": 0,
        "rejected_count": 0,
        "register_time": now_utc().isoformat(),
    }
    with live_server(create_app(database_url)) as base, httpx.Client(base_url=base) as http:
        enrolled = http.post(ENROLL_PATH, json={"code": code, "hostname": "till-1"}).json()
        auth = {"Authorization": f"Bearer {enrolled['token']}"}
        assert http.post(HEARTBEAT_PATH, json=beat, headers=auth).status_code == 200
        revoked = run(database_url, "register", "revoke", "--register", str(enrolled["register_id"]))
        assert revoked.returncode == 0, revoked.stderr
        refused = http.post(HEARTBEAT_PATH, json=beat, headers=auth)
        assert (refused.status_code, refused.json()["code"]) == (403, "register_revoked")
        assert "REVOKED" in run(database_url, "store", "list", "--tenant", str(tenant_id)).stdout
        again = run_json(database_url, "register", "rotate", "--register", str(enrolled["register_id"]))
        back = http.post(ENROLL_PATH, json={"code": again["code"]}).json()
        assert back["register_id"] == enrolled["register_id"]
        assert (
            http.post(
                HEARTBEAT_PATH, json=beat, headers={"Authorization": f"Bearer {back['token']}"}
            ).status_code
            == 200
        )
        status = http.get("/v1/fleet/status", headers={"Authorization": f"Bearer {key}"}).json()
        assert status["stores"][0]["registers"][0]["state"] == "online"
    missing = run(database_url, "register", "revoke", "--register", "999")
    assert missing.returncode == 1
    assert "register 999 does not exist" in missing.stderr


def test_a_limit_below_one_is_refused(database_url: str) -> None:
    # `audit --limit -5` printed the whole log (SQLite reads a negative LIMIT as none) and exited 0.
    tenant_id, _key, _store = _chain(database_url)
    for argv in (["audit", "--tenant", str(tenant_id)], ["privacy", "erasures"]):
        refused = run(database_url, *argv, "--limit", "-5")
        assert refused.returncode == 1, argv
        assert "--limit must be positive" in refused.stderr


def test_a_link_with_the_default_address_is_warned_about(database_url: str) -> None:
    # The link silently pointed at http://127.0.0.1:8000, which no invitee can open.
    tenant_id, _key, _store = _chain(database_url)
    invite = ["user", "invite", "--tenant", str(tenant_id), "--role", "analyst"]
    default = run(database_url, *invite, "--email", "a@shop.example")
    assert default.returncode == 0
    assert "the link uses the default address http://127.0.0.1:8000: pass --public-url" in default.stderr
    given = run(
        database_url, *invite, "--email", "b@shop.example", "--public-url", "https://echeck.shop.example"
    )
    assert given.returncode == 0
    assert "https://echeck.shop.example/invite/" in given.stdout
    assert "warning" not in given.stderr
