"""Receipts are keyed by tenant too (issue 12): nothing another tenant sends can block or reveal a receipt."""

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, select

from cloud.db import make_engine, migrate
from cloud.db.migrate import alembic_config
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, wire_receipt


def test_another_tenant_posting_the_key_first_neither_blocks_nor_reveals(cloud: Cloud) -> None:
    genuine = wire_receipt(7, contact={"kind": "phone", "value": "79161234567"})
    forged = wire_receipt(7, total=100)  # same FN + FD + FPD, other content, no contact
    attacker, victim = cloud.register(cloud.tenant("Mallory")), cloud.register(cloud.tenant("Acme"))

    first = cloud.http.post(batch_path(attacker.store_id), json={"receipts": [forged]}, headers=attacker.auth)
    assert first.json()["accepted"][0]["status"] == "stored"
    # The attacker's second try tells it nothing about the victim's receipts either.
    again = cloud.http.post(
        batch_path(attacker.store_id), json={"receipts": [genuine]}, headers=attacker.auth
    )
    assert again.json()["accepted"][0]["status"] == "conflict"  # its own first post, nobody else's

    resp = cloud.http.post(batch_path(victim.store_id), json={"receipts": [genuine]}, headers=victim.auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"][0]["status"] == "stored"
    with cloud.session() as s:
        mine = s.exec(select(ReceiptRow).where(ReceiptRow.tenant_id == victim.tenant_id)).one()
        assert mine.total == 5200
        assert mine.contact_value == "79161234567"
    cloud.run_jobs()  # deliveries are made by the "receipt stored" job
    with cloud.session() as s:
        # The genuine receipt is delivered: its delivery exists in the victim's tenant.
        delivery = s.exec(select(DeliveryRow).where(DeliveryRow.receipt_id == mine.id)).one()
        assert delivery.tenant_id == victim.tenant_id
    page = cloud.http.get(f"/v1/stores/{victim.store_id}/receipts", headers=victim.tenant_auth).json()
    assert [r["receipt"]["total"] for r in page["receipts"]] == [5200]


def test_migration_0007_keeps_rows_fills_landing_and_encrypts_credentials(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0006_accounts")  # the revision before 0007
    now = datetime.now(UTC)
    md = sa.MetaData()
    tables = {name: sa.Table(name, md, autoload_with=engine) for name in ("tenant", "store", "register")}
    tables |= {name: sa.Table(name, md, autoload_with=engine) for name in ("receipt", "delivery")}
    tables["delivery_channel"] = sa.Table("delivery_channel", md, autoload_with=engine)
    payload = {**wire_receipt(1), "extra": {"landing": "L" * 20}}
    with engine.begin() as conn:
        conn.execute(sa.insert(tables["tenant"]).values(id=1, name="A", created_at=now))
        conn.execute(sa.insert(tables["tenant"]).values(id=2, name="B", created_at=now))
        conn.execute(sa.insert(tables["store"]).values(id=1, tenant_id=1, name="S"))
        conn.execute(sa.insert(tables["register"]).values(_register(1, now)))
        receipt = dict(id=1, tenant_id=1, store_id=1, register_id=1, fn_serial="9251440300227597")
        receipt |= dict(fd_number=1, fpd=600000001, issued_at=datetime(2026, 11, 23, 14, 27), total=5200)
        receipt |= dict(calculation_type=1, payload=payload, content_hash="c" * 64, received_at=now)
        conn.execute(sa.insert(tables["receipt"]).values(receipt))
        delivery = dict(id=1, receipt_id=1, tenant_id=1, store_id=1, link_token="k" * 20, status="pending")
        delivery |= dict(steps="", skipped="", step_index=0, version=0, created_at=now)
        conn.execute(sa.insert(tables["delivery"]).values(delivery))
        sms = {"api_id": "plain-api-id-1", "callback_secret": "plain-secret-1", "timeout_s": 10.0}
        conn.execute(
            sa.insert(tables["delivery_channel"]).values(
                tenant_id=1, channel="sms", enabled=True, settings=sms, updated_at=now
            )
        )
    migrate(engine=engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT landing FROM receipt WHERE id = 1")).scalar() == "L" * 20
        assert conn.execute(sa.text("SELECT receipt_id FROM delivery")).scalar() == 1
        value = conn.execute(sa.text("SELECT settings FROM delivery_channel")).scalar()
        stored = value if isinstance(value, dict) else json.loads(str(value))
    assert stored["api_id"].startswith("fernet:")
    assert "plain-secret-1" not in str(stored)
    assert stored["timeout_s"] == 10.0
    with Session(engine) as s:
        assert delivery_config.load(s, 1).channels[Channel.SMS]["api_id"] == "plain-api-id-1"
    # Tenant 2 may now store the same key.
    with engine.begin() as conn:
        conn.execute(sa.insert(tables["store"]).values(id=2, tenant_id=2, name="S2"))
        conn.execute(sa.insert(tables["register"]).values(_register(2, now)))
        conn.execute(
            sa.text(
                "INSERT INTO receipt (id, tenant_id, store_id, register_id, fn_serial, fd_number, fpd,"
                " issued_at, total, calculation_type, payload, content_hash, received_at)"
                " SELECT 2, 2, 2, 2, fn_serial, fd_number, fpd, issued_at, total, calculation_type, payload,"
                " content_hash, received_at FROM receipt WHERE id = 1"
            )
        )
    engine.dispose()


def _register(n: int, now: datetime) -> dict[str, object]:
    return dict(
        id=n,
        tenant_id=n,
        store_id=n,
        hostname="h",
        agent_version="1",
        enrolled_at=now,
        queue_depth=0,
        rejected_count=0,
    )


def test_the_key_file_is_made_once_with_0600(tmp_path: Path) -> None:
    from cloud import secret_key

    url = f"sqlite:///{tmp_path}/c.db"
    box = secret_key.box_for(url)
    key_file = tmp_path / secret_key.KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    token = secret_key.encrypt(box, "s3cret")
    assert secret_key.decrypt(secret_key.box_for(url), token) == "s3cret"
