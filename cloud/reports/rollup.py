"""The dashboards' daily rollups: what a whole past day adds to Sending's and Template elements' figures,
grouped by every dimension they filter or group by, so that a month reads ~30 days × registers rows
instead of every receipt and page event (docs/reports.md, "Daily rollups").

- `roll_day` rewrites one local day of a tenant from the raw rows, with the very conditions and groupings
  the dashboards use on raw rows (cloud/reports/sql.py), as INSERT .. SELECT (the database does the work).
- `refresh` rolls up what is due: every past day never rolled up (back to the tenant's first receipt, at
  most `MAX_DAYS`), the last `SETTLE_DAYS` days again (deliveries' cascades, their attempts and statuses
  change for a while after the receipt), and the days of receipts whose page was fetched or opened since the
  last refresh (a buyer opens an old e-receipt). `echeck-cloud reports rollup` and the periodic job
  `reports.rollup` (every 15 min) call it.
- `split` tells a dashboard which days of its period to read from the rollups (past days rolled up) and
  which raw (today, and any day not rolled up yet), as periods of consecutive days.

A page event is counted in the rollup of its own day; a receipt's open in the rollup of the receipt's day.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cloud.accounts.models import Tenant
from cloud.db.types import utcnow
from cloud.delivery.models import AttemptRow
from cloud.jobs import Job, JobArgs
from cloud.reports.filters import DEFAULT_TIME_ZONE, MAX_DAYS, Filters, today
from cloud.reports.rollup_tables import (
    ReportAttemptDay,
    ReportEventDay,
    ReportReceiptDay,
    ReportRollupDay,
    ReportRollupState,
)
from cloud.reports.scope import View, Viewer
from cloud.reports.sql import DELIVERY, RECEIPT, receipt_where, segment_expression
from cloud.tracking.models import TrackingEvent

log = logging.getLogger("cloud.reports")


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


RECEIPT_DAY = _table(ReportReceiptDay)
ATTEMPT_DAY = _table(ReportAttemptDay)
EVENT_DAY = _table(ReportEventDay)
ROLLED = _table(ReportRollupDay)
STATE = _table(ReportRollupState)
ATTEMPT = _table(AttemptRow)
EVENT = _table(TrackingEvent)
ELEMENT_EVENTS = ("block_view", "block_click", "pageview", "order", "signup")
SETTLE_DAYS = 2  # re-rolled on every refresh: a delivery's cascade and its attempts settle within this
EVENT_SLACK = timedelta(minutes=10)  # events stored by transactions still open at the last refresh
ROLLUP = Job("reports.rollup", every_s=900.0, max_attempts=3)
# A job run rolls up at most this many days per tenant (newest first; ~3 s a day for a 1 M-receipt month),
# so a tenant's history is rolled up over several runs instead of one run outliving the job's lease.
DAYS_PER_JOB_RUN = 10


def cashier_expression() -> Any:
    """The cashier the register reported in the receipt's `extra.cashier` (tag 1021), if any."""
    return RECEIPT.c.payload["extra"]["cashier"].as_string()


def real_opens(tenant_id: int, start: datetime) -> Any:
    """Receipts a person opened: a `receipt_open` event (sent by the page's script) not from a bot."""
    return sa.select(EVENT.c.receipt_id).where(
        EVENT.c.tenant_id == tenant_id,
        EVENT.c.type == "receipt_open",
        EVENT.c.bot.is_(None),
        EVENT.c.received_at >= start,
        EVENT.c.receipt_id.is_not(None),
    )


# --- writing ----------------------------------------------------------------------------------------------


def roll_day(session: Session, tenant_id: int, day: date, time_zone: str = DEFAULT_TIME_ZONE) -> int:
    """Rewrite the rollups of one local day of a tenant; returns the day's receipts. Not committed here."""
    filters = Filters(since=day, until=day, time_zone=time_zone)
    start, end = filters.utc_range()
    view = View(Viewer(tenant_id, None), {}, restricted=False)
    r, d = RECEIPT, DELIVERY
    # The day's row first, locked until commit: a second run of the same day (a job claimed again after
    # its lease ran out, the command beside the job) waits here, then deletes what this one wrote.
    claim = _insert(session, ROLLED).values(tenant_id=tenant_id, day=day, receipts=0, rolled_at=utcnow())
    session.execute(
        claim.on_conflict_do_update(index_elements=["tenant_id", "day"], set_={"rolled_at": utcnow()})
    )
    for table in (RECEIPT_DAY, ATTEMPT_DAY, EVENT_DAY):
        session.execute(sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.day == day))
    fixed = (sa.literal(tenant_id, sa.Integer()), sa.literal(day, sa.Date()))
    cashier, segment = cashier_expression(), segment_expression()
    # "Opened by a person" as the raw query asks it, but looked up per receipt by (receipt_id, type): a
    # day's receipts, not every event since the day's start (a month of events for the month's first day).
    opened_by_person = (
        sa.select(EVENT.c.receipt_id)
        .where(
            EVENT.c.receipt_id == r.c.id,
            EVENT.c.type == "receipt_open",
            EVENT.c.tenant_id == tenant_id,
            EVENT.c.bot.is_(None),
            EVENT.c.received_at >= start,
        )
        .exists()
    )
    opened = sa.case((opened_by_person, 1), else_=0)
    receipts = (
        sa.select(
            *fixed,
            r.c.store_id,
            r.c.register_id,
            cashier,
            segment,
            d.c.channel,
            d.c.status,
            sa.func.count(),
            sa.func.count(r.c.contact_hash),
            sa.func.count(d.c.id),
            sa.func.coalesce(sa.func.sum(opened), 0),
            sa.func.count(d.c.opened_at),
        )
        .select_from(r.join(d, d.c.receipt_id == r.c.id, isouter=True))
        .where(*receipt_where(view, filters))
        .group_by(r.c.store_id, r.c.register_id, cashier, segment, d.c.channel, d.c.status)
    )
    session.execute(
        sa.insert(RECEIPT_DAY).from_select(
            [
                "tenant_id",
                "day",
                "store_id",
                "register_id",
                "cashier",
                "segment",
                "channel",
                "status",
                "receipts",
                "with_contact",
                "deliveries",
                "opened",
                "viewed",
            ],
            receipts,
        )
    )
    attempts = (
        sa.select(
            *fixed,
            d.c.store_id,
            d.c.channel,
            ATTEMPT.c.channel,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(ATTEMPT.c.price), 0),
        )
        .select_from(d.join(ATTEMPT, ATTEMPT.c.delivery_id == d.c.id))
        .where(d.c.tenant_id == tenant_id, d.c.created_at >= start, d.c.created_at < end)
        .group_by(d.c.store_id, d.c.channel, ATTEMPT.c.channel)
    )
    session.execute(
        sa.insert(ATTEMPT_DAY).from_select(
            ["tenant_id", "day", "store_id", "channel", "attempt_channel", "attempts", "price"], attempts
        )
    )
    events = (
        sa.select(*fixed, r.c.store_id, segment, d.c.channel, EVENT.c.block_id, EVENT.c.type, sa.func.count())
        .select_from(
            EVENT.join(r, r.c.id == EVENT.c.receipt_id).join(d, d.c.receipt_id == r.c.id, isouter=True)
        )
        .where(
            EVENT.c.tenant_id == tenant_id,
            r.c.tenant_id == tenant_id,
            EVENT.c.received_at >= start,
            EVENT.c.received_at < end,
            EVENT.c.bot.is_(None),
            EVENT.c.type.in_(ELEMENT_EVENTS),
        )
        .group_by(r.c.store_id, segment, d.c.channel, EVENT.c.block_id, EVENT.c.type)
    )
    session.execute(
        sa.insert(EVENT_DAY).from_select(
            ["tenant_id", "day", "store_id", "segment", "channel", "block_id", "type", "events"], events
        )
    )
    count = int(
        session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(RECEIPT_DAY.c.receipts), 0)).where(
                RECEIPT_DAY.c.tenant_id == tenant_id, RECEIPT_DAY.c.day == day
            )
        ).scalar_one()
    )
    session.execute(
        sa.update(ROLLED)
        .where(ROLLED.c.tenant_id == tenant_id, ROLLED.c.day == day)
        .values(receipts=count, rolled_at=utcnow())
    )
    return count


def _insert(session: Session, table: sa.Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(frozen=True, slots=True)
class Rolled:
    tenant_id: int
    days: list[date]
    receipts: int
    seconds: float


def _local_day(at: datetime, zone: ZoneInfo) -> date:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).date()


def due_days(
    session: Session, tenant_id: int, now: datetime, time_zone: str = DEFAULT_TIME_ZONE
) -> list[date]:
    """The past days to roll up now (see the module's docstring), oldest first."""
    zone = ZoneInfo(time_zone)
    last = today(time_zone, now) - timedelta(days=1)
    first_at = session.execute(
        sa.select(sa.func.min(RECEIPT.c.received_at)).where(RECEIPT.c.tenant_id == tenant_id)
    ).scalar()
    if first_at is None:
        return []
    first = max(_local_day(first_at, zone), last - timedelta(days=MAX_DAYS))
    rolled = set(
        session.execute(
            sa.select(ROLLED.c.day).where(ROLLED.c.tenant_id == tenant_id, ROLLED.c.day >= first)
        ).scalars()
    )
    due = {d for d in _days(first, last) if d not in rolled}
    due.update(d for d in _days(last - timedelta(days=SETTLE_DAYS - 1), last) if d >= first)
    seen_until = session.execute(
        sa.select(STATE.c.events_seen_until).where(STATE.c.tenant_id == tenant_id)
    ).scalar()
    if seen_until is not None:  # receipts whose page was fetched or opened since the last refresh
        since = seen_until - EVENT_SLACK
        received = session.execute(
            sa.select(RECEIPT.c.received_at)
            .select_from(EVENT.join(RECEIPT, RECEIPT.c.id == EVENT.c.receipt_id))
            .where(
                EVENT.c.tenant_id == tenant_id,
                EVENT.c.received_at >= since,
                EVENT.c.receipt_id.is_not(None),
                RECEIPT.c.received_at < since,
            )
            .distinct()
        ).scalars()
        due.update(d for d in (_local_day(at, zone) for at in received) if first <= d <= last)
    return sorted(due)


def forget_days(
    session: Session, tenant_id: int, received: Iterable[datetime], time_zone: str = DEFAULT_TIME_ZONE
) -> int:
    """The days of these receipts (by `received_at`) are no longer rolled up: their rows were rewritten
    wholesale (a buyer erased), so dashboards read them raw until the next refresh rolls them up again.
    Joins the caller's transaction; returns how many days were rolled up."""
    zone = ZoneInfo(time_zone)
    days = sorted({_local_day(at, zone) for at in received})
    if not days:
        return 0
    done = session.execute(sa.delete(ROLLED).where(ROLLED.c.tenant_id == tenant_id, ROLLED.c.day.in_(days)))
    return int(getattr(done, "rowcount", 0) or 0)


def refresh(
    session_factory: Callable[[], Session],
    tenant_id: int,
    now: datetime | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
    max_days: int | None = None,
) -> Rolled:
    """Roll up a tenant's due days (the newest `max_days` of them, if given), one transaction per day;
    then, if none was left for later, move its event watermark to `now`."""
    now = now or utcnow()
    started = datetime.now(UTC)
    with session_factory() as session:
        due = due_days(session, tenant_id, now, time_zone)
    days = due if max_days is None else due[-max_days:] if max_days > 0 else []
    receipts = 0
    for day in days:
        with session_factory() as session, session.begin():
            receipts += roll_day(session, tenant_id, day, time_zone)
    if len(days) == len(due):  # else the next run finds the same event-touched days again
        with session_factory() as session, session.begin():
            session.execute(sa.delete(STATE).where(STATE.c.tenant_id == tenant_id))
            session.execute(sa.insert(STATE).values(tenant_id=tenant_id, events_seen_until=now))
    return Rolled(tenant_id, days, receipts, (datetime.now(UTC) - started).total_seconds())


def refresh_all(
    engine: Engine, tenant_id: int | None = None, now: datetime | None = None, max_days: int | None = None
) -> list[Rolled]:
    with Session(engine) as session:
        tenants = (
            [tenant_id]
            if tenant_id is not None
            else [int(t) for t in session.execute(sa.select(_table(Tenant).c.id)).scalars()]
        )
    done = [refresh(lambda: Session(engine), t, now, max_days=max_days) for t in tenants]
    for r in done:
        if r.days:
            log.info(
                "rolled up %d day(s) of tenant %d: %d receipts, %.1f s",
                len(r.days),
                r.tenant_id,
                r.receipts,
                r.seconds,
            )
    return done


class RollupJob:
    """The periodic job's handler: every tenant's due days."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def __call__(self, _args: JobArgs) -> None:
        refresh_all(self.engine, None, self.clock(), max_days=DAYS_PER_JOB_RUN)


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    rolled: list[date]  # read from the rollups
    raw: list[Filters]  # read from raw rows: periods of consecutive days, the other filters unchanged


def split(session: Session, view: View, filters: Filters, now: datetime | None = None) -> Split:
    """Which days of the period the rollups answer: past days (before today in the tenant's zone) that
    are rolled up. The rest is read raw, one period per run of consecutive days."""
    last_past = min(filters.until, today(filters.time_zone, now) - timedelta(days=1))
    rolled: set[date] = set()
    if filters.since <= last_past:
        rolled = set(
            session.execute(
                sa.select(ROLLED.c.day).where(
                    ROLLED.c.tenant_id == view.viewer.tenant_id,
                    ROLLED.c.day >= filters.since,
                    ROLLED.c.day <= last_past,
                )
            ).scalars()
        )
    if not rolled:
        return Split([], [filters])
    raw: list[Filters] = []
    run: list[date] = []
    for day in _days(filters.since, filters.until):
        if day in rolled:
            if run:
                raw.append(replace(filters, since=run[0], until=run[-1]))
                run = []
        else:
            run.append(day)
    if run:
        raw.append(replace(filters, since=run[0], until=run[-1]))
    return Split(sorted(rolled), raw)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
