"""Head-office accounts over real HTTP: sessions, roles, store scopes, API key scopes, register revocation,
rate limits, CSRF and security headers."""

import hashlib
import logging
import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from cloud.accounts import api_keys, audit, register_credentials, users
from cloud.accounts.models import RateCounter
from cloud.db.engine import make_engine
from cloud.db.migrate import alembic_config, migrate
from cloud.fleet import enrollment
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, batch_path, receipts_path
from tests.cloud.conftest import PASSWORD, Cloud, now_utc, wire_receipt

STATUS = "/v1/fleet/status"


def _beat(cloud: Cloud, token: str) -> httpx.Response:
    beat = {
        "agent_version": "0.1.0",
        "queue_depth": 2,
        "rejected_count": 0,
        "register_time": now_utc().isoformat(),
    }
    return cloud.http.post(HEARTBEAT_PATH, json=beat, headers={"Authorization": f"Bearer {token}"})


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def _chain(cloud: Cloud) -> dict[str, int]:
    """A tenant with stores in two regions and one register in each store."""
    tenant_id, key = cloud.tenant("Сеть")
    ids = {
        "tverskaya": cloud.store(tenant_id, "Тверская 7", "Москва"),
        "arbat": cloud.store(tenant_id, "Арбат 12", "Москва"),
        "kazan": cloud.store(tenant_id, "Баумана 3", "Казань"),
    }
    for store_id in ids.values():
        reg = cloud.register((tenant_id, key), store_id)
        post = cloud.http.post(
            batch_path(store_id), json={"receipts": [wire_receipt(reg.register_id)]}, headers=reg.auth
        )
        assert post.status_code == 200, post.text
    return {"tenant": tenant_id, **ids}


def test_a_regional_manager_sees_only_their_stores_in_every_answer(cloud: Cloud) -> None:
    chain = _chain(cloud)
    cloud.user(chain["tenant"], "owner@shop.example", "owner")
    cloud.user(chain["tenant"], "moscow@shop.example", "analyst", regions=["Москва"])
    cloud.user(chain["tenant"], "kazan-it@shop.example", "store_it", regions=["Казань"])
    cloud.user(chain["tenant"], "arbat-it@shop.example", "store_it", stores=[chain["arbat"]])

    with cloud.browser("kazan-it@shop.example") as it:
        status = it.get(STATUS).json()
        assert [s["name"] for s in status["stores"]] == ["Баумана 3"]
        assert status["totals"]["registers"] == 1
        assert [s["id"] for s in it.get("/v1/stores").json()["stores"]] == [chain["kazan"]]
        page = it.get("/reports/fleet")  # /fleet moved to the dashboards
        assert "Баумана 3" in page.text
        assert "Тверская 7" not in page.text
        assert "Арбат 12" not in page.text
        # Store IT reads the fleet, not the receipts.
        assert it.get(receipts_path(chain["kazan"])).status_code == 403

    with cloud.browser("arbat-it@shop.example") as it:
        assert [s["name"] for s in it.get(STATUS).json()["stores"]] == ["Арбат 12"]

    with cloud.browser("moscow@shop.example") as analyst:
        assert analyst.get(receipts_path(chain["tverskaya"])).json()["count"] == 1
        assert analyst.get(receipts_path(chain["arbat"])).json()["count"] == 1
        outside = analyst.get(receipts_path(chain["kazan"]))
        assert outside.status_code == 404  # as if it did not exist
        assert outside.json()["code"] == "not_found"
        assert analyst.get(STATUS).status_code == 403  # an analyst has no fleet

    with cloud.browser("owner@shop.example") as owner:
        assert len(owner.get(STATUS).json()["stores"]) == 3
        assert owner.get(receipts_path(chain["kazan"])).json()["count"] == 1


def test_an_analyst_is_refused_on_admin_pages(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "analyst@shop.example", "analyst")
    with cloud.browser("analyst@shop.example") as analyst:
        for path in ("/admin/users", "/admin/keys", "/admin/audit"):
            page = analyst.get(path)
            assert page.status_code == 403, path
            assert "Нет доступа" in page.text
        assert analyst.get("/").headers["location"] == "/reports/fleet"  # an analyst reads the dashboards
        assert (
            analyst.post("/admin/users/invite", data={"email": "x@y.example", "role": "owner"}).status_code
            == 403
        )


def test_sign_out_and_revoked_sessions_end_at_once(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    user_id = cloud.user(tenant_id, "admin@shop.example", "admin")
    with cloud.browser("admin@shop.example") as laptop, cloud.browser("admin@shop.example") as phone:
        assert laptop.get("/admin/users").status_code == 200
        stolen = dict(phone.cookies)
        assert phone.post("/logout", data={"csrf": _csrf(phone.get("/admin/users"))}).status_code == 303
        # A copy of the signed-out cookie is worth nothing.
        with httpx.Client(base_url=str(cloud.http.base_url), cookies=stolen) as replay:
            assert replay.get("/admin/users").status_code == 303
            assert replay.get(STATUS).status_code == 401
        with cloud.session() as s:
            assert users.revoke_sessions(s, tenant_id, user_id, actor="test") == 1
        assert laptop.get("/admin/users").status_code == 303


def test_an_admin_invites_in_the_browser_and_the_invitee_sets_a_password(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    store_id = cloud.store(tenant_id, "Тверская 7", "Москва")
    cloud.user(tenant_id, "admin@shop.example", "admin")
    with cloud.browser("admin@shop.example") as admin:
        page = admin.get("/admin/users")
        refused = admin.post(
            "/admin/users/invite", data={"email": "boss@shop.example", "role": "owner", "csrf": _csrf(page)}
        )
        assert "только владелец" in refused.text  # an admin cannot make owners
        made = admin.post(
            "/admin/users/invite",
            data={
                "email": "Analyst@Shop.example",
                "role": "analyst",
                "regions": "Москва",
                "csrf": _csrf(page),
            },
        )
        assert made.status_code == 200, made.text
        link = re.search(r'id="secret">([^<]+)<', made.text)
        assert link is not None
        path = httpx.URL(link.group(1)).path
        assert path.startswith("/invite/")
    invitee = httpx.Client(base_url=str(cloud.http.base_url))
    form = invitee.get(path)
    assert "analyst@shop.example" in form.text
    short = invitee.post(path, data={"password": "short", "password2": "short"})
    assert short.status_code == 422
    done = invitee.post(path, data={"password": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 303
    assert invitee.get(receipts_path(store_id)).status_code == 200  # signed in, scoped to Москва
    again = httpx.post(str(cloud.http.base_url) + path, data={"password": PASSWORD, "password2": PASSWORD})
    assert again.status_code == 410
    invitee.close()
    with cloud.browser("analyst@shop.example") as analyst:  # and signs in with it later
        assert analyst.get(receipts_path(store_id)).status_code == 200


def test_a_read_key_cannot_register_push_devices_or_opt_outs(cloud: Cloud) -> None:
    tenant_id, write_key = cloud.tenant()
    store_id = cloud.store(tenant_id)
    with cloud.session() as s:
        _key, read_key = api_keys.add(s, tenant_id, "BI export", "read", actor="test")
    read = {"Authorization": f"Bearer {read_key}"}
    device = {"contact": "+79161234567", "token": "attacker-device-token-0123456789"}
    refused = cloud.http.post("/v1/delivery/app/devices", json=device, headers=read)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert "write" in refused.json()["detail"]
    assert (
        cloud.http.post("/v1/delivery/opt-outs", json={"contact": "+79161234567"}, headers=read).status_code
        == 403
    )
    assert cloud.http.post("/v1/delivery/app/events", json=[], headers=read).status_code == 403
    assert cloud.http.get(receipts_path(store_id), headers=read).status_code == 200  # reading is fine
    writer = {"Authorization": f"Bearer {write_key}"}  # the tenant's first key: read+write
    assert cloud.http.post("/v1/delivery/app/devices", json=device, headers=writer).status_code == 200


def test_keys_rotate_with_or_without_grace_and_revoke(cloud: Cloud) -> None:
    tenant_id, first = cloud.tenant()
    store_id = cloud.store(tenant_id)

    def reads(key: str) -> int:
        return cloud.http.get(receipts_path(store_id), headers={"Authorization": f"Bearer {key}"}).status_code

    with cloud.session() as s:
        first_id = api_keys.list_keys(s, tenant_id)[0].id
        rotated, second = api_keys.rotate(s, tenant_id, first_id, actor="test")
    assert (reads(first), reads(second)) == (401, 200)
    with cloud.session() as s:
        assert rotated.id is not None
        _k, third = api_keys.rotate(s, tenant_id, rotated.id, actor="test", grace=timedelta(hours=1))
    assert (reads(second), reads(third)) == (200, 200)  # the integration has an hour to switch
    with cloud.session() as s:
        third_id = max(k.id for k in api_keys.list_keys(s, tenant_id))
        api_keys.revoke(s, tenant_id, third_id, actor="test")
    assert reads(third) == 401


def test_a_revoked_register_is_told_so_and_rotation_brings_it_back(cloud: Cloud) -> None:
    reg = cloud.register()
    assert _beat(cloud, reg.token).status_code == 200
    with cloud.session() as s:
        register_credentials.revoke_register(s, reg.tenant_id, reg.register_id, actor="test")
    for answer in (
        _beat(cloud, reg.token),
        cloud.http.post(batch_path(reg.store_id), json={"receipts": [wire_receipt(1)]}, headers=reg.auth),
    ):
        assert answer.status_code == 403
        assert answer.json()["code"] == "register_revoked"
        assert "keeps its receipts" in answer.json()["detail"]
    view = cloud.http.get(STATUS, headers=reg.tenant_auth).json()
    assert view["stores"][0]["registers"][0]["state"] == "revoked"
    assert view["totals"]["revoked"] == 1

    with cloud.session() as s:
        code = enrollment.issue_rotation_code(s, reg.tenant_id, reg.register_id).code
    again = cloud.http.post(ENROLL_PATH, json={"code": code, "hostname": "till-1-new-disk"})
    assert again.status_code == 200, again.text
    assert again.json()["register_id"] == reg.register_id  # the same register, a new token
    new_token = again.json()["token"]
    assert _beat(cloud, new_token).status_code == 200
    assert _beat(cloud, reg.token).json()["code"] == "register_revoked"
    view = cloud.http.get(STATUS, headers=reg.tenant_auth).json()
    assert view["stores"][0]["registers"][0]["state"] == "online"
    # Re-enrolling a live register (moved to a new machine) revokes the token it had.
    with cloud.session() as s:
        code = enrollment.issue_rotation_code(s, reg.tenant_id, reg.register_id).code
    third = cloud.http.post(ENROLL_PATH, json={"code": code}).json()
    assert third["register_id"] == reg.register_id
    replaced = _beat(cloud, new_token)
    assert replaced.status_code == 403
    assert replaced.json()["code"] == "register_revoked"
    assert "enrolled again" in replaced.json()["detail"]
    assert _beat(cloud, third["token"]).status_code == 200


def test_an_agent_enrolling_again_with_its_old_token_stays_the_same_register(cloud: Cloud) -> None:
    reg = cloud.register()
    again = cloud.http.post(ENROLL_PATH, json={"code": cloud.code(reg.store_id)}, headers=reg.auth)
    assert again.status_code == 200, again.text
    assert again.json()["register_id"] == reg.register_id
    assert _beat(cloud, reg.token).json()["code"] == "register_revoked"  # a copy of the old disk is refused
    assert _beat(cloud, again.json()["token"]).status_code == 200
    # Another store's code makes a new register there (the till moved), whatever token comes with it.
    elsewhere = cloud.store(reg.tenant_id, "Арбат 12")
    moved = cloud.http.post(
        ENROLL_PATH,
        json={"code": cloud.code(elsewhere)},
        headers={"Authorization": f"Bearer {again.json()['token']}"},
    )
    assert moved.json()["register_id"] != reg.register_id


def test_store_it_revokes_and_rotates_from_the_fleet_page_only_in_scope(cloud: Cloud) -> None:
    tenant_id, key = cloud.tenant()
    mine = cloud.register((tenant_id, key), cloud.store(tenant_id, "Тверская 7", "Москва"))
    other = cloud.register((tenant_id, key), cloud.store(tenant_id, "Баумана 3", "Казань"))
    cloud.user(tenant_id, "it@shop.example", "store_it", regions=["Москва"])
    with cloud.browser("it@shop.example") as it:
        page = it.get("/reports/fleet")
        csrf = _csrf(page)
        assert (
            it.post(f"/fleet/registers/{mine.register_id}/revoke", data={}).status_code == 403
        )  # no CSRF token
        assert it.post(f"/fleet/registers/{other.register_id}/revoke", data={"csrf": csrf}).status_code == 404
        done = it.post(f"/fleet/registers/{mine.register_id}/revoke", data={"csrf": csrf})
        assert done.status_code == 303
        assert "токен отозван" in it.get("/reports/fleet").text
        code = it.post(f"/fleet/registers/{mine.register_id}/rotate", data={"csrf": csrf})
        assert re.search(r'id="secret">[A-Z0-9]{4}-[A-Z0-9]{4}<', code.text)
        new_till = it.post(f"/fleet/stores/{mine.store_id}/code", data={"csrf": csrf})
        fresh = re.search(r'id="secret">([A-Z0-9]{4}-[A-Z0-9]{4})<', new_till.text)
        assert fresh is not None
        # The command store IT types, whole: the page said `--cloud <адрес облака>`, a flag the agent lacks.
        command = rf"echeck-agent enroll --cloud-url https?://\S+ --code {fresh.group(1)}"
        assert re.search(command, new_till.text)
        assert it.post(f"/fleet/stores/{other.store_id}/code", data={"csrf": csrf}).status_code == 404
    enrolled = cloud.http.post(ENROLL_PATH, json={"code": fresh.group(1), "hostname": "till-2"}).json()
    assert enrolled["store_id"] == mine.store_id
    assert _beat(cloud, other.token).status_code == 200
    assert _beat(cloud, mine.token).json()["code"] == "register_revoked"
    with cloud.session() as s:
        actions = [e.action for e in audit.entries(s, tenant_id)]
    assert "register.revoked" in actions
    assert "register.rotation_code" in actions
    assert "enrollment_code.issued" in actions


def test_wrong_passwords_lock_the_account_out_with_retry_after(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cloud.accounts")
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "owner@shop.example")
    for _ in range(5):
        wrong = cloud.http.post("/login", data={"email": "owner@shop.example", "password": "guess-guess"})
        assert wrong.status_code == 401
    locked = cloud.http.post("/login", data={"email": "owner@shop.example", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, until the lockout ends
    assert int(locked.headers["retry-after"]) > 60
    assert "слишком много" in locked.text
    with cloud.session() as s:
        keys = [k for (k,) in s.execute(sa.select(RateCounter.key))]
    assert not any("owner@shop.example" in k for k in keys)  # the account is counted by its hash only
    logged = [
        (r.getMessage(), getattr(r, "fields", {})) for r in caplog.records if r.name == "cloud.accounts"
    ]
    assert (
        "rate_limit.locked",
        {"limit": "login-account", "failures": 5, "locked_s": 900, "subject": "login-account:<hashed>"},
    ) in logged
    assert any(name == "rate_limit.refused" for name, _ in logged)
    assert "owner@shop.example" not in caplog.text  # o***@shop.example at most


def test_guessing_enrollment_codes_is_locked_out(cloud: Cloud) -> None:
    store_id = cloud.store(cloud.tenant()[0])
    real = cloud.code(store_id)
    for n in range(5):
        guess = cloud.http.post(ENROLL_PATH, json={"code": f"ABCD-EFG{n + 2}"})
        assert guess.status_code == 400
    same_prefix = cloud.http.post(ENROLL_PATH, json={"code": "ABCD-EFGZ"})
    assert same_prefix.status_code == 429
    assert same_prefix.json()["code"] == "rate_limited"
    assert int(same_prefix.headers["retry-after"]) > 0
    for n in range(5):  # other prefixes from the same address, up to its limit
        assert cloud.http.post(ENROLL_PATH, json={"code": f"WXY{n + 2}-AAAA"}).status_code == 400
    assert cloud.http.post(ENROLL_PATH, json={"code": real}).status_code == 429  # the address is locked out


def test_html_answers_carry_security_headers_and_assets_are_local(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "owner@shop.example")
    login = cloud.http.get("/login")
    csp = login.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert login.headers["x-content-type-options"] == "nosniff"
    assert login.headers["referrer-policy"] == "no-referrer"
    assert login.headers["cache-control"] == "no-store"
    assert "<script" not in login.text  # no inline scripts, no CDN
    assert "<style" not in login.text
    assert not re.search(r'(src|href)="(https?:)?//', login.text)
    css = cloud.http.get("/static/office.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    with cloud.browser("owner@shop.example") as owner:
        assert owner.get("/admin/users").headers["cache-control"] == "no-store"
    # An open redirect through ?next= is refused: only paths on this site.
    hop = cloud.http.post(
        "/login", data={"email": "owner@shop.example", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert hop.headers["location"] == "/reports/fleet"


def test_the_tenants_single_key_becomes_a_read_write_key(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004_delivery_report_lookup")
        conn.execute(
            sa.text(
                "INSERT INTO tenant (id, name, api_key_hash, created_at) "
                "VALUES (1, 'Old', :h, '2026-01-01 00:00:00')"
            ),
            {"h": hashlib.sha256(b"ek_legacy").hexdigest()},
        )
        conn.execute(sa.text("INSERT INTO store (id, tenant_id, name) VALUES (1, 1, 'S')"))
        conn.execute(
            sa.text(
                "INSERT INTO register (id, tenant_id, store_id, token_hash, hostname, agent_version,"
                " enrolled_at, queue_depth, rejected_count)"
                " VALUES (1, 1, 1, :h, 'till', '0.1', '2026-01-01 00:00:00', 0, 0)"
            ),
            {"h": hashlib.sha256(b"old-register-token").hexdigest()},
        )
    migrate(engine=engine)
    with Session(engine) as s:
        key = api_keys.authenticate(s, "ek_legacy")
        assert key is not None
        assert api_keys.scopes_of(key) == {"read", "write"}
        assert key.name == "основной ключ"
        register = register_credentials.authenticate(s, "old-register-token")
        assert register is not None
        assert register.id == 1
    engine.dispose()


def test_an_admin_manages_keys_on_the_keys_page(cloud: Cloud) -> None:
    tenant_id, first = cloud.tenant()
    store_id = cloud.store(tenant_id)
    cloud.user(tenant_id, "admin@shop.example", "admin")
    with cloud.browser("admin@shop.example") as admin:
        csrf = _csrf(admin.get("/admin/keys"))
        blank = admin.post("/admin/keys", data={"name": " ", "scopes": "read", "csrf": csrf})
        assert blank.status_code == 422
        assert "название" in blank.text
        made = admin.post("/admin/keys", data={"name": "BI", "scopes": "read", "csrf": csrf})
        secret = re.search(r'id="secret">([^<]+)<', made.text)
        assert secret is not None
        key = secret.group(1)
        assert (
            cloud.http.get(receipts_path(store_id), headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
        with cloud.session() as s:
            first_id = api_keys.list_keys(s, tenant_id)[0].id
        assert admin.post(f"/admin/keys/{first_id}/revoke", data={"csrf": csrf}).status_code == 303
        assert (
            cloud.http.get(receipts_path(store_id), headers={"Authorization": f"Bearer {first}"}).status_code
            == 401
        )
        assert "отозван" in admin.get("/admin/keys").text


def test_a_forgotten_password_is_reset_by_a_one_time_link(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "admin@shop.example", "admin")
    cloud.user(tenant_id, "forgetful@shop.example", "analyst")
    with cloud.browser("forgetful@shop.example") as old_session, cloud.browser("admin@shop.example") as admin:
        page = admin.get("/admin/users")
        target = re.search(r'action="/admin/users/(\d+)/reset"', page.text.split("forgetful@shop.example")[1])
        assert target is not None
        made = admin.post(f"/admin/users/{target.group(1)}/reset", data={"csrf": _csrf(page)})
        link = re.search(r'id="secret">([^<]+)<', made.text)
        assert link is not None
        path = httpx.URL(link.group(1)).path
        with httpx.Client(base_url=str(cloud.http.base_url)) as phone:
            assert "новый пароль" in phone.get(path).text
            done = phone.post(
                path, data={"password": "a brand new password", "password2": "a brand new password"}
            )
            assert done.status_code == 303
            assert phone.get("/account").status_code == 200
        assert old_session.get("/account").status_code == 303  # whoever knew the old password is out
    old = cloud.http.post("/login", data={"email": "forgetful@shop.example", "password": PASSWORD})
    assert old.status_code == 401
    with cloud.session() as s:
        assert "user.password_set" in [e.action for e in audit.entries(s, tenant_id)]


def test_inn_check_digits() -> None:
    from cloud.accounts.legal import valid_inn

    assert valid_inn("7707083893")  # an organisation (10 digits)
    assert valid_inn("500100732259")  # an entrepreneur (12 digits)
    for bad in ["7707083894", "500100732250", "770708389", "77070838931", "77070838９3", ""]:
        assert not valid_inn(bad), bad
