"""The POS's and CRM's API over real HTTP: check, redeem exactly once (also under concurrent requests),
clear refusals; head office's rules and stats."""

import threading
from datetime import timedelta

import httpx
from sqlmodel import select

from cloud.accounts import api_keys
from cloud.db.types import utcnow
from cloud.jobs.models import JobRow
from cloud.pages.promo.models import PromoCode
from tests.cloud.promo.conftest import PromoRig


def _issue_now(rig: PromoRig, receipt_id: int, rule: str = "next10") -> str:
    promo = rig.issue(receipt_id, rule, now=utcnow())
    assert promo is not None
    return promo.code


def _redeem(
    http: httpx.Client, auth: dict[str, str], code: str, store_id: int, key: str, **extra: object
) -> httpx.Response:
    body = {"code": code, "store_id": store_id, "idempotency_key": key, **extra}
    return http.post("/v1/promo/redeem", json=body, headers=auth)


def test_concurrent_redemptions_of_one_code_redeem_it_once(rig: PromoRig) -> None:
    rig.rule("next10", start_delay_h=0)
    issuing, buying = rig.receipts(["+79161234567", "+79161234568"])
    code = _issue_now(rig, issuing)
    base, n = str(rig.cloud.http.base_url), 12
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(n)
    lock = threading.Lock()

    def till(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            barrier.wait()
            r = _redeem(
                http,
                rig.reg.tenant_auth,
                code.lower(),
                rig.reg.store_id,
                f"till-{i}-purchase",
                receipt_id=buying,
            )
            with lock:
                answers.append(r)

    threads = [threading.Thread(target=till, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * (n - 1), [r.text for r in answers]
    refused = [r.json() for r in answers if r.status_code == 409]
    assert {r["code"] for r in refused} == {"promo_already_redeemed"}
    assert "уже использован" in refused[0]["detail"]
    won = next(r.json() for r in answers if r.status_code == 200)
    assert won["promo"]["issued_receipt_id"] == issuing
    assert not won["replayed"]
    with rig.session() as s:
        row = s.exec(select(PromoCode).where(PromoCode.code == code)).one()
        assert row.redeemed_receipt_id == buying  # linked to the purchase and to the issuing receipt
        assert row.receipt_id == issuing
        assert row.redeemed_by == "key:основной ключ"
        assert not s.exec(select(JobRow).where(JobRow.name == "promo.reminder")).all()  # reminder cancelled
    # the winner's retry (same idempotency key) gets its redemption back
    winner_key = row.redeem_key
    assert winner_key is not None
    again = _redeem(rig.cloud.http, rig.reg.tenant_auth, code, rig.reg.store_id, winner_key)
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    checked = rig.cloud.http.post("/v1/promo/check", json={"code": code}, headers=rig.reg.tenant_auth).json()
    assert (checked["valid"], checked["status"]) == (False, "promo_already_redeemed")


def test_check_and_refusals(rig: PromoRig) -> None:
    rig.rule("next10", valid_days=10)
    rig.rule("later", percent=5, start_delay_h=48)
    a, b, c = rig.receipts(["+79161234567", "+79161234568", None])
    http, auth, store = rig.cloud.http, rig.reg.tenant_auth, rig.reg.store_id
    good = _issue_now(rig, a)
    later = _issue_now(rig, b, "later")
    old = rig.issue(c, now=utcnow() - timedelta(days=11))
    assert old is not None

    r = http.post("/v1/promo/check", json={"code": good[:5] + "-" + good[5:]}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["valid"], body["status"], body["rule"]) == (True, "valid", "next10")
    assert body["discount"] == {
        "percent": 10,
        "amount": None,
        "headline": "−10 % на следующую покупку",
        "categories": [],
    }
    assert body["issued_receipt_id"] == a

    unknown = _redeem(http, auth, "ZZZZZZZZZZ", store, "key-unknown")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "promo_unknown")
    expired = _redeem(http, auth, old.code, store, "key-expired")
    assert (expired.status_code, expired.json()["code"]) == (410, "promo_expired")
    early = _redeem(http, auth, later, store, "key-not-started")
    assert (early.status_code, early.json()["code"]) == (409, "promo_not_started")
    assert "начнёт действовать" in early.json()["detail"]

    # another tenant never sees this tenant's codes, nor redeems them in its stores
    other = rig.cloud.register()
    assert http.post("/v1/promo/check", json={"code": good}, headers=other.tenant_auth).status_code == 404
    foreign_store = _redeem(http, auth, good, other.store_id, "key-foreign")
    assert (foreign_store.status_code, foreign_store.json()["code"]) == (404, "not_found")

    # a read-only key checks but does not redeem
    with rig.session() as s:
        _key, read_only = api_keys.add(s, rig.reg.tenant_id, "crm-read", api_keys.READ_ONLY, "test")
    read = {"Authorization": f"Bearer {read_only}"}
    assert http.post("/v1/promo/check", json={"code": good}, headers=read).status_code == 200
    assert _redeem(http, read, good, store, "key-readonly").status_code == 403
    assert _redeem(http, {}, good, store, "key-anonymous").status_code == 401
    ok = _redeem(http, auth, good, store, "key-good", register_id=rig.reg.register_id, purchase="POS-1/457")
    assert ok.status_code == 200, ok.text


def test_rules_api_and_stats_scoped_by_store(rig: PromoRig) -> None:
    http, auth = rig.cloud.http, rig.reg.tenant_auth
    small = http.put(
        "/v1/promo/rules/tiny", json={"percent": 10, "length": 6, "planned_codes": 1000000}, headers=auth
    )
    assert (small.status_code, small.json()["code"]) == (422, "invalid_setting")
    assert "нужна длина не меньше 8" in small.json()["detail"]
    r = http.put(
        "/v1/promo/rules/next10",
        json={"percent": 10, "categories": ["Кофе"], "valid_days": 14, "remind_before_h": 48},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert r.json()["alphabet"] == "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    listed = http.get("/v1/promo/rules", headers=auth).json()["rules"]
    assert [x["name"] for x in listed] == ["next10"]

    second_store = rig.cloud.store(rig.reg.tenant_id, "Nevsky 1")
    second = rig.cloud.register(tenant=(rig.reg.tenant_id, rig.reg.api_key), store_id=second_store)
    here = rig.receipts(["+79161234567", "+79161234568", "+79161234569"])
    there = rig.receipts(["+79161234560"], start_fd=100, reg=second)
    issued = [_issue_now(rig, rid) for rid in here + there]
    assert _redeem(http, auth, issued[0], rig.reg.store_id, "stats-first").status_code == 200
    assert _redeem(http, auth, issued[3], second_store, "stats-second").status_code == 200

    everything = http.get("/v1/promo/stats", headers=auth).json()["rules"]
    assert everything == [
        {
            "rule": "next10",
            "active": True,
            "issued": 4,
            "redeemed": 2,
            "redemption_rate": 0.5,
            "reminders_sent": 0,
        }
    ]
    rig.cloud.user(rig.reg.tenant_id, "analyst@shop.example", "analyst", stores=[rig.reg.store_id])
    rig.cloud.user(rig.reg.tenant_id, "it@shop.example", "store_it")
    rig.cloud.user(rig.reg.tenant_id, "admin@shop.example", "admin")
    with rig.cloud.browser("analyst@shop.example") as analyst:
        mine = analyst.get("/v1/promo/stats").json()["rules"][0]
        assert (mine["issued"], mine["redeemed"], mine["redemption_rate"]) == (3, 1, 0.3333)
        assert analyst.get("/v1/promo/rules").status_code == 403
        future = analyst.get("/v1/promo/stats", params={"since": (utcnow() + timedelta(days=1)).isoformat()})
        assert future.json()["rules"][0]["issued"] == 0
    with rig.cloud.browser("it@shop.example") as it:
        assert it.get("/v1/promo/stats").status_code == 403
    with rig.cloud.browser("admin@shop.example") as admin:
        assert admin.get("/v1/promo/rules").status_code == 200
        # people write through the CLI or a form, never the JSON API with a cookie
        assert admin.put("/v1/promo/rules/x", json={"percent": 5}).status_code == 401
