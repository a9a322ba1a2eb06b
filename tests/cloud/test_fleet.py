"""Enrollment, heartbeats and the store list, over real HTTP."""

from datetime import timedelta

import sqlalchemy as sa

from cloud.accounts.models import Register, RegisterToken
from cloud.fleet.models import EnrollmentCode
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, EnrollResponse, HeartbeatAck
from tests.cloud.conftest import Cloud, now_utc


def test_enroll_gives_a_register_token_stored_only_hashed(cloud: Cloud) -> None:
    tenant_id, _ = cloud.tenant()
    store_id = cloud.store(tenant_id)
    code = cloud.code(store_id)
    assert len(code) == 9
    assert code[4] == "-"
    resp = cloud.http.post(
        ENROLL_PATH, json={"code": code.lower(), "hostname": "till-3", "agent_version": "0.1.0"}
    )
    assert resp.status_code == 200, resp.text
    enrolled = EnrollResponse.model_validate(resp.json())
    assert (enrolled.tenant_id, enrolled.store_id) == (tenant_id, store_id)
    with cloud.session() as s:
        register = s.get(Register, enrolled.register_id)
        assert register is not None
        assert register.hostname == "till-3"
        tokens = s.execute(sa.select(RegisterToken).where(RegisterToken.register_id == register.id)).scalars()
        assert [len(t.token_hash) for t in tokens] == [64]  # only the hash is kept
        used = s.execute(sa.select(EnrollmentCode)).scalar_one()
        assert used.register_id == register.id
        assert used.used_at is not None


def test_a_code_enrolls_only_once(cloud: Cloud) -> None:
    code = cloud.code(cloud.store(cloud.tenant()[0]))
    assert cloud.http.post(ENROLL_PATH, json={"code": code}).status_code == 200
    again = cloud.http.post(ENROLL_PATH, json={"code": code})
    assert again.status_code == 410
    assert "already used" in again.json()["detail"]


def test_an_expired_code_is_refused(cloud: Cloud) -> None:
    code = cloud.code(cloud.store(cloud.tenant()[0]), ttl=timedelta(minutes=5))
    with cloud.session() as s:
        s.execute(sa.update(EnrollmentCode).values(expires_at=now_utc() - timedelta(seconds=1)))
        s.commit()
    resp = cloud.http.post(ENROLL_PATH, json={"code": code})
    assert resp.status_code == 410
    assert "expired" in resp.json()["detail"]


def test_garbage_codes_are_refused_clearly(cloud: Cloud) -> None:
    resp = cloud.http.post(ENROLL_PATH, json={"code": "AAAA-BBBB"})
    assert resp.status_code == 400
    assert "unknown enrollment code" in resp.json()["detail"]
    short = cloud.http.post(ENROLL_PATH, json={"code": "x"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "code"]


def test_heartbeat_is_stored_with_clock_skew_and_listed_for_the_tenant(cloud: Cloud) -> None:
    reg = cloud.register()
    beat = {
        "agent_version": "0.1.1",
        "queue_depth": 7,
        "rejected_count": 1,
        "oldest_unsynced_age_s": 42.5,
        "last_sync_at": now_utc().isoformat(),
        "last_error": "cloud unreachable",
        "register_time": (now_utc() + timedelta(seconds=90)).isoformat(),
    }
    resp = cloud.http.post(HEARTBEAT_PATH, json=beat, headers=reg.auth)
    assert resp.status_code == 200, resp.text
    ack = HeartbeatAck.model_validate(resp.json())
    assert 85 < ack.clock_skew_s < 95

    listed = cloud.http.get("/v1/stores", headers=reg.tenant_auth)
    assert listed.status_code == 200, listed.text
    (store,) = listed.json()["stores"]
    assert store["id"] == reg.store_id
    (register,) = store["registers"]
    assert register["id"] == reg.register_id
    assert register["queue_depth"] == 7
    assert register["rejected_count"] == 1
    assert register["agent_version"] == "0.1.1"
    assert register["last_error"] == "cloud unreachable"
    assert 85 < register["clock_skew_s"] < 95
    assert register["last_heartbeat_at"] is not None


def test_heartbeat_and_store_list_need_credentials(cloud: Cloud) -> None:
    reg = cloud.register()
    beat = {"register_time": now_utc().isoformat()}
    assert cloud.http.post(HEARTBEAT_PATH, json=beat).status_code == 401
    bad = cloud.http.post(HEARTBEAT_PATH, json=beat, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    # A register token is not a tenant key, and the other way round.
    assert cloud.http.get("/v1/stores", headers=reg.auth).status_code == 401
    assert cloud.http.post(HEARTBEAT_PATH, json=beat, headers=reg.tenant_auth).status_code == 401


def test_stores_are_listed_per_tenant_only(cloud: Cloud) -> None:
    mine = cloud.register()
    other = cloud.register(tenant=cloud.tenant("Other"))
    body = cloud.http.get("/v1/stores", headers=mine.tenant_auth).json()
    assert [s["id"] for s in body["stores"]] == [mine.store_id]
    assert other.store_id != mine.store_id


def test_healthz(cloud: Cloud) -> None:
    resp = cloud.http.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "ok"}
