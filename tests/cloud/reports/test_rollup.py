"""The dashboards read whole past days from the daily rollups and give the very figures and tables the raw
rows give, for every filter (SQLite, and PostgreSQL when configured); a refresh rolls up what changed."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks.support.report_data import make_chain, seed_month, stores_named
from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.ingest.models import ReceiptRow
from cloud.privacy import erasure
from cloud.privacy.keys import IdentityKeys
from cloud.reports import rollup
from cloud.reports.filters import Filters, parse, today
from cloud.reports.scope import Viewer, stores_in_view
from cloud.reports.service import build
from cloud.reports.tables import Dashboard
from cloud.tracking.models import TrackingEvent
from receipts.contact import BuyerContact

DAYS = 6


@dataclass
class Month:
    engine: Engine
    tenant_id: int
    kazan: frozenset[int]
    store: int
    since: str
    until: str


@pytest.fixture
def month(database_url: str) -> Iterator[Month]:
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        tenant, _ = tenants.create_tenant(s, "Acme")
        other, _ = tenants.create_tenant(s, "Other")
        assert tenant.id
        assert other.id
    now = datetime.now(UTC)
    chain = make_chain(engine, tenant.id, stores_named(3), registers_per_store=2)
    seed_month(engine, chain, end=now, days=DAYS, receipts_per_register_day=8, seed=3)
    strangers = make_chain(engine, other.id, [("Чужой", "Казань")], registers_per_store=1)
    seed_month(engine, strangers, end=now, days=DAYS, receipts_per_register_day=5, seed=4)
    first = today(now=now) - timedelta(days=DAYS)
    with Session(engine) as s:
        kazan = frozenset(
            st
            for st in stores_in_view(s, Viewer(tenant.id, None), parse({})).stores.values()
            if st.region == "Казань"
        )
    yield Month(
        engine,
        tenant.id,
        frozenset(st.id for st in kazan),
        chain.stores[0],
        first.isoformat(),
        today(now=now).isoformat(),
    )
    engine.dispose()


FILTERS: list[dict[str, str]] = [
    {},
    {"segment": "card"},
    {"segment": "anonymous"},
    {"channel": "sms"},
    {"channel": "email", "segment": "contact"},
    {"region": "Казань"},
]


def _shape(d: Dashboard) -> dict[str, Any]:
    """Figures and every table's rows, rows in a fixed order (equal sort keys may come in any order)."""
    return {
        "figures": [(f.id, f.value, f.note) for f in d.figures],
        "tables": {
            t.id: sorted((sorted((k, repr(v)) for k, v in row.items()) for row in t.rows), key=repr)
            for t in d.tables
        },
    }


def _answers(m: Month, periods: list[dict[str, str]], scoped: frozenset[int] | None = None) -> dict[str, Any]:
    out = {}
    with Session(m.engine) as s:
        for period in periods:
            for params in FILTERS:
                for slug in ("sending", "elements"):
                    filters = parse({**period, **params})
                    out[f"{slug} {period} {params} {scoped is not None}"] = _shape(
                        build(s, Viewer(m.tenant_id, scoped), slug, filters)
                    )
    return out


def _rolled(m: Month, filters: Filters) -> list[Any]:
    with Session(m.engine) as s:
        return rollup.split(s, stores_in_view(s, Viewer(m.tenant_id, None), filters), filters).rolled


def test_rollup_backed_answers_equal_raw_ones(month: Month) -> None:
    m = month
    yesterday = (datetime.fromisoformat(m.until) - timedelta(days=1)).date().isoformat()
    periods = [
        {"since": m.since, "until": m.until},  # rolled days and today's raw rows
        {"since": m.since, "until": yesterday},  # rolled days only
        {"since": yesterday, "until": yesterday, "store": str(m.store)},
    ]
    raw = _answers(m, periods) | _answers(m, periods[:1], scoped=m.kazan)
    assert not _rolled(m, parse(periods[0]))  # nothing rolled yet: all of it was raw
    done = rollup.refresh_all(m.engine)
    rolled = {r.tenant_id: r for r in done}[m.tenant_id]
    assert len(rolled.days) == DAYS
    assert rolled.receipts > 0
    assert len(_rolled(m, parse(periods[0]))) == DAYS
    assert raw == _answers(m, periods) | _answers(m, periods[:1], scoped=m.kazan)
    # a second refresh finds only the settling days (yesterday and the day before) to redo
    again = {r.tenant_id: r for r in rollup.refresh_all(m.engine)}[m.tenant_id]
    assert len(again.days) == rollup.SETTLE_DAYS


def test_a_late_open_of_an_old_receipt_is_rolled_up_again(month: Month) -> None:
    m = month
    rollup.refresh_all(m.engine)
    period = {"since": m.since, "until": m.until}
    r = ReceiptRow.__table__  # type: ignore[attr-defined]
    e = TrackingEvent.__table__  # type: ignore[attr-defined]
    with m.engine.begin() as conn:  # the oldest day's receipt with a contact, not opened yet
        opened = sa.select(e.c.receipt_id).where(e.c.type == "receipt_open", e.c.receipt_id.is_not(None))
        receipt_id, received_at = conn.execute(
            sa.select(r.c.id, r.c.received_at)
            .where(r.c.tenant_id == m.tenant_id, r.c.contact_hash.is_not(None), r.c.id.not_in(opened))
            .order_by(r.c.received_at)
            .limit(1)
        ).one()
        conn.execute(
            sa.insert(e).values(
                event_id="0000000a-0000-4000-8000-000000000001",
                received_at=datetime.now(UTC),
                tenant_id=m.tenant_id,
                type="receipt_open",
                browser_id="late-reader",
                receipt_id=receipt_id,
            )
        )
    with Session(m.engine) as s:
        before = _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period)))
    with Session(m.engine) as s:
        due = rollup.due_days(s, m.tenant_id, datetime.now(UTC))
    day = rollup._local_day(received_at, rollup.ZoneInfo("Europe/Moscow"))
    assert day in due  # the receipt's day, older than the settling days
    rollup.refresh_all(m.engine)
    with Session(m.engine) as s:
        after = _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period)))
    assert after != before  # one more receipt opened by a person
    raw_opened = _opened_raw(m, period)
    assert dict((f[0], f[1]) for f in after["figures"])["open_rate"] == raw_opened


def test_an_erased_buyer_s_days_leave_the_rollups_until_rolled_up_again(month: Month) -> None:
    """An erasure clears the buyer's contact on their old receipts: the days it counted them "with a
    contact" are read raw at once, and the next refresh rolls them up again with the same answer."""
    m = month
    rollup.refresh_all(m.engine)
    period = {"since": m.since, "until": m.until}
    keys = IdentityKeys("v1", {"v1": b"erasure-test-key-0123456789abcde"})
    buyer = BuyerContact("phone", "+7 916 000-00-42")
    r = ReceiptRow.__table__  # type: ignore[attr-defined]
    with m.engine.begin() as conn:  # the oldest day's receipt with a contact becomes this buyer's
        receipt_id = conn.execute(
            sa.select(r.c.id)
            .where(r.c.tenant_id == m.tenant_id, r.c.contact_hash.is_not(None))
            .order_by(r.c.received_at)
            .limit(1)
        ).scalar_one()
        conn.execute(sa.update(r).where(r.c.id == receipt_id).values(contact_hash=keys.hash(buyer.value)))
    with Session(m.engine) as s:
        rolled_before = _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period)))
        done = erasure.erase(
            s, keys, buyer, tenant_id=m.tenant_id, requested_by="test", now=datetime.now(UTC)
        )
    assert done.counts["receipts"] == 1
    assert done.counts["report_days"] == 1
    with Session(m.engine) as s:
        after = _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period)))
    assert after != rolled_before  # one receipt fewer with a contact
    rollup.refresh_all(m.engine)
    with Session(m.engine) as s:
        rolled_again = _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period)))
    assert rolled_again == after
    with m.engine.begin() as conn:
        conn.execute(sa.delete(rollup.ROLLED))
    with Session(m.engine) as s:
        assert _shape(build(s, Viewer(m.tenant_id, None), "sending", parse(period))) == after  # raw rows


def _opened_raw(m: Month, period: dict[str, str]) -> float | None:
    """The open rate on raw rows alone (the rollups emptied)."""
    with m.engine.begin() as conn:
        conn.execute(sa.delete(rollup.ROLLED))
    with Session(m.engine) as s:
        d = build(s, Viewer(m.tenant_id, None), "sending", parse(period))
    value = {f.id: f.value for f in d.figures}["open_rate"]
    assert value is None or isinstance(value, float)
    return value


def test_the_operator_rolls_up_from_the_command_line(
    month: Month, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.cli import main

    assert (
        main(
            ["--database-url", database_url, "reports", "rollup", "--tenant", str(month.tenant_id), "--json"]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["days"] == DAYS
    assert doc["tenants"][0]["tenant_id"] == month.tenant_id
    assert doc["receipts"] > 0
    assert main(["--database-url", database_url, "reports", "rollup"]) == 0  # every tenant, as text
    out = capsys.readouterr().out
    assert f"tenant {month.tenant_id}: {rollup.SETTLE_DAYS} day(s) rolled up" in out


def test_the_job_rolls_up_a_long_history_a_few_days_a_run_newest_first(month: Month) -> None:
    m = month
    first = {r.tenant_id: r for r in rollup.refresh_all(m.engine, max_days=2)}[m.tenant_id]
    assert len(first.days) == 2
    assert first.days[-1] == today() - timedelta(days=1)
    with Session(m.engine) as s:
        assert (
            s.execute(sa.select(rollup.STATE).where(rollup.STATE.c.tenant_id == m.tenant_id)).first() is None
        )
    rest = {r.tenant_id: r for r in rollup.refresh_all(m.engine)}[m.tenant_id]
    assert set(rest.days) >= {today() - timedelta(days=n) for n in range(3, DAYS + 1)}
    with Session(m.engine) as s:  # one row per rolled day, however often a day was rolled up
        rows = s.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(rollup.ROLLED.c.day))).where(
                rollup.ROLLED.c.tenant_id == m.tenant_id
            )
        ).one()
        assert rows[0] == rows[1]
    assert rollup.DAYS_PER_JOB_RUN >= rollup.SETTLE_DAYS
