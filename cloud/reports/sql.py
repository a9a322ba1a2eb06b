"""Query pieces every dashboard shares: the receipt conditions (tenant, period, stores in view, segment,
channel), a day in the tenant's zone, percentiles; the same on SQLite and PostgreSQL."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.reports.filters import Filters
from cloud.reports.scope import View

RECEIPT: sa.Table = ReceiptRow.__table__  # type: ignore[attr-defined]
DELIVERY: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
NO_STORE = -1  # an empty store set: `IN (-1)` matches nothing


def store_in(column: Any, view: View) -> list[ColumnElement[bool]]:
    """`column IN (the stores in view)`, or nothing when the view is the whole tenant."""
    return [column.in_(view.ids or [NO_STORE])] if view.restricted else []


def segment_condition(segment: str | None, r: sa.Table = RECEIPT) -> list[ColumnElement[bool]]:
    if segment == "card":
        return [r.c.loyalty_card.is_not(None)]
    if segment == "contact":
        return [r.c.contact_hash.is_not(None), r.c.loyalty_card.is_(None)]
    if segment == "anonymous":
        return [r.c.contact_hash.is_(None)]
    return []


def segment_expression(r: sa.Table = RECEIPT) -> Any:
    """A receipt's segment (`segment_condition`'s values): card, contact or anonymous."""
    return sa.case(
        (r.c.loyalty_card.is_not(None), "card"),
        (r.c.contact_hash.is_not(None), "contact"),
        else_="anonymous",
    )


def receipt_where(view: View, filters: Filters, r: sa.Table = RECEIPT) -> list[ColumnElement[bool]]:
    """The receipts a dashboard counts: received in the period, in the stores in view, of the segment.
    The channel filter needs the delivery: see `channel_condition`."""
    start, end = filters.utc_range()
    return [
        r.c.tenant_id == view.viewer.tenant_id,
        r.c.received_at >= start,
        r.c.received_at < end,
        *store_in(r.c.store_id, view),
        *segment_condition(filters.segment, r),
    ]


def channel_condition(filters: Filters, d: sa.Table = DELIVERY) -> list[ColumnElement[bool]]:
    """With a channel chosen: receipts whose e-receipt reached the buyer by that channel."""
    return [d.c.channel == filters.channel] if filters.channel else []


def utc_offset_hours(filters: Filters) -> float:
    start, _end = filters.utc_range()
    offset = start.astimezone(ZoneInfo(filters.time_zone)).utcoffset()
    return offset.total_seconds() / 3600 if offset else 0.0


def local_day(column: Any, filters: Filters, dialect: str) -> Any:
    """The calendar day of a UTC timestamp in the tenant's zone ('YYYY-MM-DD' once passed through str())."""
    if dialect == "postgresql":  # a date (str() of it is 'YYYY-MM-DD'): cheaper to group by than to_char
        return sa.cast(sa.func.timezone(filters.time_zone, column), sa.Date)
    # SQLite: no zone database; the period's offset (Russia keeps no summer time since 2014).
    return sa.func.strftime("%Y-%m-%d", column, f"{utc_offset_hours(filters):+.2f} hours")


def seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def percentiles(
    session: Session, value: Any, where: Sequence[ColumnElement[bool]], froms: Any, qs: Sequence[float]
) -> list[float | None]:
    """The `qs` percentiles (0..1, linear interpolation) of `value` over the rows of `froms` matching
    `where`: computed by PostgreSQL's percentile_cont, or over the fetched values on SQLite."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        agg = [sa.func.percentile_cont(q).within_group(value) for q in qs]
        row = session.execute(sa.select(*agg).select_from(froms).where(*where)).one()
        return [float(v) if v is not None else None for v in row]
    values = sorted(float(v) for (v,) in session.execute(sa.select(value).select_from(froms).where(*where)))
    return [percentile(values, q) for q in qs]


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """percentile_cont over sorted values."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def day_labels(filters: Filters) -> list[str]:
    return [(filters.since + timedelta(days=i)).isoformat() for i in range(filters.days)]


def plus_days(column: Any, days: int, dialect: str) -> Any:
    """A UTC timestamp column plus whole days, comparable with other timestamp columns."""
    if dialect == "postgresql":
        return column + sa.literal(timedelta(days=days), sa.Interval())
    # SQLite keeps UTC timestamps as naive text (cloud.db.types): datetime() answers in the same form.
    return sa.func.datetime(column, f"+{days} days")
