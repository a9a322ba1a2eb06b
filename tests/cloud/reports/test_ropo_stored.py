"""The ROPO dashboard over what the attribution job stored: a multi-day period's figures are the per-day
stored figures summed (Markov too: the job's daily estimates), computed in SQL without the raw events (they
are deleted and the page answers the same), scoped to an analyst's stores, and a day never attributed is
said on the page."""

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlmodel import Session

from cloud.attribution import aggregates, reads, service
from cloud.attribution.jobs import AttributionJobs
from cloud.attribution.models import Model
from cloud.attribution.ropo import Dimension, ropo_report
from cloud.reports.exports import xlsx_bytes
from cloud.reports.filters import parse
from cloud.reports.ropo import MARKOV_PER_DAY
from cloud.reports.scope import Viewer
from cloud.reports.service import build
from cloud.reports.tables import Dashboard
from cloud.tracking.events import EventType, Identifier, IdentifierKind
from cloud.tracking.models import TrackingEvent
from sync.protocol import batch_path
from tests.cloud.attribution.test_jobs import ev, track
from tests.cloud.conftest import Cloud, Registered, wire_receipt

MSK = ZoneInfo("Europe/Moscow")
D1 = datetime.now(MSK).date() - timedelta(days=4)
D2 = D1 + timedelta(days=1)
D3 = D1 + timedelta(days=2)
DAYS = (D1, D2, D3)
PAID = {"source": "yandex", "medium": "cpc", "campaign": "winter"}
MAIL = {"source": "newsletter", "medium": "email", "campaign": "dec"}
SOCIAL = {"source": "vk", "medium": "social", "campaign": "dec"}


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=MSK).astimezone(UTC)


def sell(cloud: Cloud, reg: Registered, fd: int, day: date, total: int, phone: str | None) -> None:
    doc = wire_receipt(fd, total=total, contact={"kind": "phone", "value": phone} if phone else None)
    doc["fiscal"]["issued_at"] = datetime.combine(day, time(12, fd % 60)).isoformat()
    r = cloud.http.post(batch_path(reg.store_id), json={"receipts": [doc]}, headers=reg.auth)
    assert r.status_code == 200, r.text


def dash(
    cloud: Cloud, tenant: int, since: date, until: date, stores: frozenset[int] | None = None, **p: str
) -> Dashboard:
    with Session(cloud.engine) as s:
        return build(
            s, Viewer(tenant, stores), "ropo", parse({"since": str(since), "until": str(until), **p})
        )


def statements(cloud: Cloud, tenant: int, since: date, until: date) -> list[str]:
    """The SQL the page runs for a period (a listener on the engine: nothing of ours is replaced)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(cloud.engine, "before_cursor_execute", record)
    try:
        dash(cloud, tenant, since, until)
    finally:
        sa.event.remove(cloud.engine, "before_cursor_execute", record)
    return seen


def rows(d: Dashboard, table: str) -> list[dict[str, Any]]:
    t = d.table(table)
    assert t is not None
    return t.rows


def fig(d: Dashboard) -> dict[str, Any]:
    return {f.id: f.value for f in d.figures}


@pytest.fixture
def chain(cloud: Cloud) -> tuple[int, int, int]:
    """Two stores (Moscow, Kazan), six buyers with site visits over three days, three days attributed."""
    tenant, key = cloud.tenant()
    moscow = cloud.store(tenant, "Тверская 7", "Москва")
    kazan = cloud.store(tenant, "Баумана 3", "Казань")
    reg_m = cloud.register((tenant, key), moscow)
    reg_k = cloud.register((tenant, key), kazan)
    phones = [f"7916111{i:04d}" for i in range(6)]
    events = []
    for i, phone in enumerate(phones):
        browser = f"b{i:03d}"
        first = local(D1, 9) - timedelta(days=3)
        ident = Identifier(IdentifierKind.PHONE, cloud.keys.hash(phone))
        events.append(ev(tenant, EventType.ORDER, browser, first, identifiers=(ident,)))
        utms = (PAID, MAIL, SOCIAL)
        # buyers 0-3 browse before their purchases (1-2 channels each); buyers 4-5 never do
        if i < 4:
            events.append(
                ev(tenant, EventType.PAGEVIEW, browser, first + timedelta(hours=1), utm=utms[i % 3])
            )
        if i < 2:
            events.append(
                ev(tenant, EventType.PAGEVIEW, browser, first + timedelta(days=1), utm=utms[(i + 1) % 3])
            )
    track(cloud, tenant, *events)
    cloud.run_jobs()
    fd = 1
    for n, day in enumerate(DAYS):
        for i, phone in enumerate(phones):
            if (i + n) % 3 == 2:
                continue  # not every buyer buys every day
            sell(cloud, reg_m if i % 2 else reg_k, fd, day, 100_00 * (i + 1) + n * 7_00, phone)
            fd += 1
        sell(cloud, reg_m, fd, day, 55_00, None)  # an unidentified buyer
        fd += 1
    cloud.run_jobs()
    with Session(cloud.engine) as s, s.begin():
        service.mark_dirty(s, tenant, DAYS, "new")
    jobs = AttributionJobs(cloud.engine, clock=lambda: local(D3, 23))
    assert {d.day for d in jobs.run(tenant)} >= set(DAYS)
    return tenant, moscow, kazan


def test_the_page_is_the_stored_days_summed_and_needs_no_raw_events(
    cloud: Cloud, chain: tuple[int, int, int]
) -> None:
    tenant, _moscow, _kazan = chain
    d = dash(cloud, tenant, D1, D3, model="markov")
    f = fig(d)
    with Session(cloud.engine) as s:
        per_day = [reads.summary(s, tenant, reads.Filters(day, day)) for day in DAYS]
        assert all(p["days_attributed"] == 1 for p in per_day)
        for name in ("receipts", "revenue", "ropo_revenue"):
            assert f[name] == sum(p[name] for p in per_day), name
        assert f["ropo_revenue"] > 0
        # every model's credit per channel: the days' stored credits summed (Markov: the daily estimates)
        for model in Model:
            expected: dict[str, int] = {}
            for day in DAYS:
                for channel, (_n, revenue) in reads.by_channel(
                    reads.credits(s, tenant, reads.Filters(day, day), model)
                ).items():
                    expected[channel] = expected.get(channel, 0) + revenue
            got = {r["key"]: r[model.value] for r in rows(d, "models") if r[model.value]}
            assert got == expected, model
        # the breakdowns are what ropo_report computes over the same stored purchases and journeys
        stored = reads.ropo_inputs(s, tenant, reads.Filters(D1, D3))
        total = ropo_report(stored.purchases, stored.journeys)[0]
        assert (f["receipts"], f["revenue"], f["ropo_revenue"]) == (
            total.receipts,
            total.revenue,
            total.ropo_revenue,
        )
        campaigns = ropo_report(
            stored.purchases, stored.journeys, Dimension.CAMPAIGN, campaign_key=reads.stored_campaign
        )
        assert [
            (r["key"], r["ropo_receipts"], r["ropo_revenue"], r["ropo_buyers"]) for r in rows(d, "campaigns")
        ] == [(r.key, r.ropo_receipts, r.ropo_revenue, r.ropo_buyer_share) for r in campaigns]
        by_region = ropo_report(stored.purchases, stored.journeys, Dimension.REGION)
        assert [(r["key"], r["receipts"], r["ropo_buyers"]) for r in rows(d, "regions")] == [
            (r.key, r.receipts, r.ropo_buyer_share) for r in by_region
        ]
        # narrowed to one channel's purchases (attribution_purchase_key), the same as over their journeys
        channel = sorted({t.channel for j in stored.journeys for t in j.touches})[0]
        narrowed = reads.ropo_inputs(s, tenant, reads.Filters(D1, D3, channel=channel))
        assert 0 < len(narrowed.purchases) < len(stored.purchases)
        scope = aggregates.Filters(D1, D3, channel=channel)
        for by in (Dimension.TOTAL, Dimension.CHANNEL):
            got_rows = aggregates.ropo_rows(s, tenant, scope, by)
            want_rows = ropo_report(narrowed.purchases, narrowed.journeys, by)
            assert [(r.key, r.receipts, r.ropo_receipts, r.ropo_revenue) for r in got_rows] == [
                (r.key, r.receipts, r.ropo_receipts, r.ropo_revenue) for r in want_rows
            ], by
    assert len(rows(d, "channels")) == 3
    models = d.table("models")
    assert models is not None
    assert models.note == MARKOV_PER_DAY
    credit = d.table("credit")
    assert credit is not None
    assert credit.note is not None
    assert "сумма дневных оценок" in credit.note
    assert not any("не за все дни" in n for n in d.notes)

    # a fixed number of statements whatever the period's length, none of them reading the raw events
    one_day, three_days = statements(cloud, tenant, D1, D1), statements(cloud, tenant, D1, D3)
    assert len(one_day) == len(three_days) <= 20
    assert not any("tracking_event" in q for q in three_days)

    # the XLSX export carries the same figures and the Markov note under its sheet
    book = load_workbook(io.BytesIO(xlsx_bytes(d, parse({"since": str(D1), "until": str(D3)}), "вся сеть")))
    cells = {str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value}
    assert MARKOV_PER_DAY in cells
    assert d.notes[0] in cells

    # the raw touches are gone (events, and so every journey the request could build): the same answer
    with Session(cloud.engine) as s, s.begin():
        s.execute(sa.delete(TrackingEvent.__table__))  # type: ignore[attr-defined]
    again = dash(cloud, tenant, D1, D3, model="markov")
    assert (again.figures, [t.rows for t in again.tables]) == (d.figures, [t.rows for t in d.tables])


def test_an_analyst_of_one_region_sees_its_stores_and_missing_days_are_said(
    cloud: Cloud, chain: tuple[int, int, int]
) -> None:
    tenant, moscow, kazan = chain
    whole = dash(cloud, tenant, D1, D3)
    kazan_only = dash(cloud, tenant, D1, D3, frozenset({kazan}))
    assert [r["key"] for r in rows(kazan_only, "stores")] == ["Баумана 3"]
    assert [r["key"] for r in rows(kazan_only, "regions")] == ["Казань"]
    by_store = {r["key"]: r for r in rows(whole, "stores")}
    assert fig(kazan_only)["receipts"] == by_store["Баумана 3"]["receipts"]
    assert fig(kazan_only)["revenue"] == by_store["Баумана 3"]["revenue"]
    # the region filter of the page narrows the same way; a Kazan analyst asking for Moscow sees nothing
    assert fig(dash(cloud, tenant, D1, D3, region="Москва"))["revenue"] == by_store["Тверская 7"]["revenue"]
    assert fig(dash(cloud, tenant, D1, D3, frozenset({kazan}), store=str(moscow)))["receipts"] == 0
    # a period starting two days before anything was attributed: the page says which days are missing
    early = dash(cloud, tenant, D1 - timedelta(days=2), D3)
    assert fig(early)["receipts"] == fig(whole)["receipts"]
    warning = early.notes[0]
    assert "не за все дни" in warning
    assert "нет 2 дней" in warning
    assert (D1 - timedelta(days=2)).strftime("%d.%m") in warning
