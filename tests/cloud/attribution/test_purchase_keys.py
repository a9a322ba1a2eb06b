"""`attribution_purchase_key`: the job writes each touched, identified purchase's channels and campaigns once,
and the migration derives the very same rows from purchases stored before it (SQLite and PostgreSQL)."""

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from cloud.attribution.service import PURCHASE, PURCHASE_KEY, purchase_keys
from cloud.db.migrate import alembic_config
from cloud.ingest.models import ReceiptRow
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, wire_receipt

DAY = date(2026, 11, 20)
BEFORE = "0018m_report_rollups"


def _touch(channel: str, campaign: str | None) -> dict[str, Any]:
    return {
        "at": "2026-11-19T10:00:00+00:00",
        "kind": "site_session",
        "channel": channel,
        "campaign": campaign,
    }


def _keys(cloud: Cloud) -> set[tuple[Any, ...]]:
    with cloud.engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(PURCHASE_KEY))}


def test_the_migration_derives_the_rows_the_job_writes(cloud: Cloud) -> None:
    reg = cloud.register()
    docs = [wire_receipt(fd, total=100_00 * fd) for fd in (1, 2, 3, 4)]
    cloud.http.post(batch_path(reg.store_id), json={"receipts": docs}, headers=reg.auth).raise_for_status()
    with cloud.session() as s:
        ids = [r.id for r in s.exec(select(ReceiptRow).order_by(ReceiptRow.fd_number))]  # type: ignore[arg-type]
    touches: list[tuple[int | None, list[dict[str, Any]] | None]] = [
        # two touches of one channel, one without a campaign (it counts under its channel)
        (7, [_touch("paid_search", "yandex / cpc"), _touch("paid_search", None), _touch("email", "x")]),
        (8, None),  # identified, no touch
        (None, [_touch("email", "dec")]),  # touched but nobody known: no key
        (9, [_touch("direct", "direct / - / direct")]),
    ]  # fmt: skip
    rows = [
        {
            "receipt_id": rid,
            "tenant_id": reg.tenant_id,
            "day": DAY,
            "at": datetime(2026, 11, 20, 12, tzinfo=UTC),
            "store_id": reg.store_id,
            "revenue": 100_00 * n,
            "profile_id": profile,
            "touched": bool(ts),
            "touches": ts,
        }
        for n, (rid, (profile, ts)) in enumerate(zip(ids, touches, strict=True), start=1)
    ]
    written = [key for row in rows for key in purchase_keys(row)]
    assert sorted((k["receipt_id"], k["field"], k["key"]) for k in written) == [
        (ids[0], "campaign", "paid_search"),
        (ids[0], "campaign", "x"),
        (ids[0], "campaign", "yandex / cpc"),
        (ids[0], "channel", "email"),
        (ids[0], "channel", "paid_search"),
        (ids[3], "campaign", "direct / - / direct"),
        (ids[3], "channel", "direct"),
    ]
    with cloud.engine.begin() as conn:
        conn.execute(sa.insert(PURCHASE), rows)
        conn.execute(sa.insert(PURCHASE_KEY), written)
    by_job = _keys(cloud)

    with cloud.engine.begin() as conn:  # as before the migration: no table, purchases stored
        command.downgrade(alembic_config(conn), BEFORE)
        assert "attribution_purchase_key" not in sa.inspect(conn).get_table_names()
    with cloud.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert _keys(cloud) == by_job
