"""Buyers' personal data: keyed hashes, consent records, erasure, retention of raw contacts, re-keying."""

import hashlib
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.cli import main as cloud_cli
from cloud.db.tables import all_tables
from cloud.db.types import utcnow
from cloud.delivery.models import DeliveryRow, OptOut
from cloud.ingest.models import ReceiptRow
from cloud.pages.models import PageKept
from cloud.privacy.keys import IdentityKeys
from cloud.privacy.retention import purge_raw_contacts, rekey
from receipts.contact import hash_identifier
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered, wire_receipt

PHONE = "79160000042"
OTHER = "79160000043"
LANDING = "Privacy-landing01"


def store(cloud: Cloud, reg: Registered, fd: int, phone: str | None, **extra: Any) -> None:
    contact = {"kind": "phone", "value": phone} if phone else None
    r = cloud.http.post(
        batch_path(reg.store_id),
        json={"receipts": [wire_receipt(fd, contact=contact, **extra)]},
        headers=reg.auth,
    )
    assert r.status_code == 200, r.text
    assert not r.json()["rejected"]


def everything(cloud: Cloud) -> str:
    """Every row of every cloud table, as text."""
    with cloud.engine.connect() as conn:
        return "\n".join(
            repr(tuple(row)) for table in all_tables().sorted_tables for row in conn.execute(sa.select(table))
        )


def kept_pages(cloud: Cloud) -> int:
    with cloud.session() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(PageKept)).scalar_one())


def forms_of(phone: str, keys: IdentityKeys) -> list[str]:
    return [phone, "+" + phone, *keys.every_hash(phone), hashlib.sha256(("+" + phone).encode()).hexdigest()]


def test_contacts_are_stored_under_a_keyed_hash_not_a_reversible_one(cloud: Cloud) -> None:
    reg = cloud.register()
    store(cloud, reg, 1, PHONE)
    with cloud.session() as s:
        stored = s.exec(sa.select(ReceiptRow.contact_hash)).scalar_one()  # type: ignore[call-overload]
    assert stored == cloud.keys.hash(PHONE)
    assert stored != hash_identifier(PHONE)  # the plain SHA-256 is found by enumerating 10⁹ phones


def test_erasure_leaves_nothing_of_the_buyer_but_keeps_the_fiscal_record(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reg = cloud.register()
    store(cloud, reg, 1, PHONE, extra={"checkout_id": "T1-1", "landing": LANDING})
    store(cloud, reg, 2, PHONE)
    store(cloud, reg, 3, OTHER)
    resend = wire_receipt(2, total=5300, contact={"kind": "phone", "value": PHONE})  # a conflicting resend
    cloud.http.post(
        batch_path(reg.store_id), json={"receipts": [resend]}, headers=reg.auth
    ).raise_for_status()
    assert cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}").status_code == 200  # the QR landing
    h = reg.tenant_auth
    device = {"contact": "+7 916 000-00-42", "token": "fcm-token-of-the-buyer-0042"}
    assert cloud.http.post("/v1/delivery/app/devices", json=device, headers=h).status_code == 200
    assert cloud.http.post(
        "/v1/delivery/opt-outs", json={"contact": PHONE, "channel": "sms"}, headers=h
    ).is_success
    consent = {
        "contact": "8 916 000 00 42",
        "purpose": "advertising",
        "text": "Согласен получать рекламу",
        "text_version": "2026-11",
        "source": "page",
        "source_ref": "https://shop.example/join",
    }
    assert cloud.http.post("/v1/consents", json=consent, headers=h).status_code == 201
    cloud.run_jobs()  # deliveries are made by the "receipt stored" job
    with cloud.session() as s:
        deliveries = s.exec(sa.select(sa.func.count()).select_from(DeliveryRow)).scalar_one()  # type: ignore[call-overload]
    assert deliveries == 3
    with cloud.session() as s:
        links = list(s.exec(sa.select(DeliveryRow.link_token).order_by(DeliveryRow.receipt_id)).scalars())  # type: ignore[call-overload]
    for token in links:  # each page is kept rendered (cloud.pages.kept): two of them are the buyer's
        assert cloud.http.get(f"/r/{token}").status_code == 200
    deadline = time.monotonic() + 10
    while kept_pages(cloud) < 3:  # on PostgreSQL written just after their answer (pages.kept_writer)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    keys = cloud.keys
    assert PHONE in everything(cloud)

    r = cloud.http.post(
        "/v1/privacy/erasures", json={"contact": "+7 (916) 000-00-42", "reason": "№ 17"}, headers=h
    )

    assert r.status_code == 201, r.text
    assert r.json()["counts"] == {
        "kept_pages": 2,
        "receipts": 2,
        "push_devices": 1,
        "opt_outs": 1,
        "page_answers": 0,
        "page_exposures": 0,
        "consents": 1,
        "identity_links": 4,  # two sightings, the tenant's sighting row, the node
        "report_days": 0,  # today's receipts: not rolled up yet
        "attribution_days": 0,  # nor attributed
    }
    dump = everything(cloud)
    for form in forms_of(PHONE, keys):
        assert form not in dump
    assert OTHER in dump  # nobody else is touched
    with cloud.session() as s:
        fiscal = s.exec(sa.select(ReceiptRow.fd_number, ReceiptRow.fpd, ReceiptRow.contact_value)).all()  # type: ignore[call-overload]
    assert sorted((fd, fpd) for fd, fpd, _ in fiscal) == [(1, 600000001), (2, 600000002), (3, 600000003)]
    logged = "\n".join(f"{rec.getMessage()} {getattr(rec, 'fields', '')}" for rec in caplog.records)
    for form in forms_of(PHONE, keys):
        assert form not in logged
    log = cloud.http.get("/v1/privacy/erasures", headers=h).json()
    assert [e["counts"]["receipts"] for e in log] == [2]
    with cloud.session() as s:
        kept = s.exec(sa.select(PageKept.receipt_id)).all()  # type: ignore[call-overload]
    assert len(kept) == 1  # the other buyer's
    again = cloud.http.get(f"/r/{links[0]}")
    assert again.status_code == 200
    assert "0042" not in again.text.replace("00-42", "")
    page = cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}")
    assert page.status_code == 200
    assert "0042" not in page.text.replace("00-42", "")


def test_consent_is_a_record_and_only_advertising_grants_reach_the_audience(cloud: Cloud) -> None:
    reg = cloud.register()
    h = reg.tenant_auth
    text = "Я согласен получать рекламные сообщения магазина"

    def consent(contact: str, granted: bool, version: str = "v1", wording: str = text) -> Any:
        doc = {
            "contact": contact,
            "purpose": "advertising",
            "granted": granted,
            "text": wording,
            "text_version": version,
            "source": "form",
            "source_ref": "signup",
        }
        return cloud.http.post("/v1/consents", json=doc, headers=h)

    assert consent(PHONE, True).status_code == 201
    assert consent(OTHER, True).status_code == 201
    assert consent(OTHER, False).status_code == 201  # withdrawn: the latest record wins
    assert consent("anna@example.com", True).status_code == 201
    changed = consent(PHONE, True, wording="Другие слова под тем же номером версии")
    assert changed.status_code == 409
    assert changed.json()["code"] == "conflict"
    bad = consent("12", True)
    assert bad.status_code == 422

    meta = cloud.http.get("/v1/advertising/audience", headers=h).text.split()
    google = cloud.http.get("/v1/advertising/audience", params={"format": "google"}, headers=h).text.split()
    assert sorted(meta) == sorted([hash_identifier(PHONE), hash_identifier("anna@example.com")])
    assert hashlib.sha256(b"+" + PHONE.encode()).hexdigest() in google
    assert hash_identifier(OTHER) not in meta


def test_raw_contacts_are_purged_after_retention_once_delivery_is_over(cloud: Cloud) -> None:
    reg = cloud.register()
    store(cloud, reg, 1, PHONE)
    store(cloud, reg, 2, OTHER)
    cloud.run_jobs()
    with cloud.session() as s:
        ids = dict(s.exec(sa.select(ReceiptRow.contact_value, ReceiptRow.id)).all())  # type: ignore[call-overload]
        s.execute(
            sa.update(DeliveryRow).where(DeliveryRow.receipt_id == ids[PHONE]).values(status="delivered")
        )
        s.execute(sa.update(DeliveryRow).where(DeliveryRow.receipt_id == ids[OTHER]).values(status="pending"))
        s.commit()
        later = utcnow() + timedelta(days=46)
        assert purge_raw_contacts(s, utcnow(), timedelta(days=45)) == 0  # not old enough yet
        assert purge_raw_contacts(s, later, timedelta(days=45)) == 1  # the pending delivery keeps its contact
        rows = {r.id: r for r in s.exec(sa.select(ReceiptRow)).scalars()}  # type: ignore[call-overload]
    assert rows[ids[PHONE]].contact_value is None
    assert rows[ids[PHONE]].contact_hash == cloud.keys.hash(PHONE)  # opt-outs and identity still match
    assert rows[ids[PHONE]].payload["contact"] is None
    assert rows[ids[OTHER]].contact_value == OTHER


def test_rekey_moves_hashes_from_before_keys_and_their_opt_outs(cloud: Cloud) -> None:
    reg = cloud.register()
    store(cloud, reg, 1, PHONE)
    plain = hash_identifier(PHONE)
    with cloud.session() as s:
        s.execute(sa.update(ReceiptRow).values(contact_hash=plain))  # as stored before keyed hashes
        s.add(OptOut(tenant_id=reg.tenant_id, contact_hash=plain, channel="sms", created_at=utcnow()))
        s.commit()
        assert rekey(s, cloud.keys) == 1
        assert rekey(s, cloud.keys) == 0
        assert s.exec(sa.select(ReceiptRow.contact_hash)).scalar_one() == cloud.keys.hash(PHONE)  # type: ignore[call-overload]
        assert s.exec(sa.select(OptOut.contact_hash)).scalar_one() == cloud.keys.hash(PHONE)  # type: ignore[call-overload]


def test_cli_erases_everywhere_and_rotates_the_key(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    reg = cloud.register()
    store(cloud, reg, 1, PHONE)
    old = cloud.keys
    assert cloud_cli(["--database-url", cloud.url, "privacy", "rotate-key", "--json"]) == 0
    assert '"rekeyed": 1' in capsys.readouterr().out
    new = cloud.keys
    assert new.current != old.current
    assert set(old.keys) < set(new.keys)
    assert cloud_cli(["--database-url", cloud.url, "privacy", "erase", "8 916 000-00-42", "--json"]) == 0
    assert '"receipts": 1' in capsys.readouterr().out
    assert PHONE not in everything(cloud)
    assert cloud_cli(["--database-url", cloud.url, "privacy", "erase", "не телефон"]) == 1
    assert "contact:" in capsys.readouterr().err
