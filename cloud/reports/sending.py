"""The Sending dashboard: receipts, how many carried a buyer's contact (capture rate, per store and
cashier), the channels e-receipts went by, delivered, opened by a person, cost and saving against the fiscal
operator's flat price, and how long delivery took."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cloud.delivery import config as delivery_config
from cloud.delivery.models import AttemptRow
from cloud.delivery.prices import OPERATOR
from cloud.reports import charts, rollup
from cloud.reports.filters import CHANNELS, Filters
from cloud.reports.rollup import cashier_expression, real_opens
from cloud.reports.scope import View
from cloud.reports.sql import (
    DELIVERY,
    RECEIPT,
    channel_condition,
    day_labels,
    local_day,
    percentiles,
    receipt_where,
    seconds_between,
    store_in,
)
from cloud.reports.tables import Chart, Column, Dashboard, Figure, Kind, Table, format_value, share
from cloud.tracking.models import TrackingEvent

ATTEMPT: sa.Table = AttemptRow.__table__  # type: ignore[attr-defined]
EVENT: sa.Table = TrackingEvent.__table__  # type: ignore[attr-defined]
DELIVERED = "delivered"

STORE_COLUMNS = (
    Column("store", "Магазин", Kind.TEXT),
    Column("region", "Регион", Kind.TEXT),
    Column("receipts", "Чеков"),
    Column("with_contact", "С контактом"),
    Column("capture", "Доля с контактом", Kind.SHARE),
    Column("delivered", "Доставлено"),
    Column("opened", "Открыто"),
    Column("open_rate", "Доля открытых", Kind.SHARE),
    Column("cost", "Стоимость", Kind.KOPECKS),
    Column("saving", "Экономия", Kind.KOPECKS),
)
CASHIER_COLUMNS = (
    Column("store", "Магазин", Kind.TEXT),
    Column("register", "Касса"),
    Column("cashier", "Кассир", Kind.TEXT),
    Column("receipts", "Чеков"),
    Column("with_contact", "С контактом"),
    Column("capture", "Доля с контактом", Kind.SHARE),
)
CHANNEL_COLUMNS = (
    Column("channel", "Канал", Kind.TEXT),
    Column("delivered", "Доставлено"),
    Column("share", "Доля доставленных", Kind.SHARE),
    Column("attempts", "Попыток"),
    Column("cost", "Стоимость", Kind.KOPECKS),
)
DAY_COLUMNS = (
    Column("day", "День", Kind.TEXT),
    Column("receipts", "Чеков"),
    Column("with_contact", "С контактом"),
    Column("capture", "Доля с контактом", Kind.SHARE),
)


def _deliveries(view: View, filters: Filters) -> tuple[Any, list[Any]]:
    """The period's deliveries in view: read from `delivery` alone (its own tenant, store and creation time,
    which is the receipt's arrival) unless a segment needs the receipt."""
    d = DELIVERY
    if filters.segment:
        return RECEIPT.join(DELIVERY, d.c.receipt_id == RECEIPT.c.id), [
            *receipt_where(view, filters),
            *channel_condition(filters),
        ]
    start, end = filters.utc_range()
    return DELIVERY, [
        d.c.tenant_id == view.viewer.tenant_id,
        d.c.created_at >= start,
        d.c.created_at < end,
        *store_in(d.c.store_id, view),
        *channel_condition(filters),
    ]


def _joined(filters: Filters) -> Any:
    """Receipts with their delivery, if any (an inner join when a channel is chosen)."""
    return RECEIPT.join(DELIVERY, DELIVERY.c.receipt_id == RECEIPT.c.id, isouter=not filters.channel)


def _raw_groups(session: Session, view: View, filters: Filters) -> list[Any]:
    """(store, register, cashier, channel, status, receipts, with contact, deliveries, opened, viewed)."""
    r, d = RECEIPT, DELIVERY
    start, _end = filters.utc_range()
    opened = sa.case((r.c.id.in_(real_opens(view.viewer.tenant_id, start)), 1), else_=0)
    cashier = cashier_expression()
    return list(
        session.execute(
            sa.select(
                r.c.store_id,
                r.c.register_id,
                cashier,
                d.c.channel,
                d.c.status,
                sa.func.count(),
                sa.func.count(r.c.contact_hash),
                sa.func.count(d.c.id),
                sa.func.sum(opened),
                sa.func.count(d.c.opened_at),
            )
            .select_from(_joined(filters))
            .where(*receipt_where(view, filters), *channel_condition(filters))
            .group_by(r.c.store_id, r.c.register_id, cashier, d.c.channel, d.c.status)
        ).all()
    )


def _rolled_where(table: sa.Table, view: View, filters: Filters, days: list[date]) -> list[Any]:
    where = [
        table.c.tenant_id == view.viewer.tenant_id,
        table.c.day.in_(days),
        *store_in(table.c.store_id, view),
    ]
    if filters.channel:
        where.append(table.c.channel == filters.channel)
    if filters.segment and "segment" in table.c:
        where.append(table.c.segment == filters.segment)
    return where


def _rolled_groups(session: Session, view: View, filters: Filters, days: list[date]) -> list[Any]:
    t = rollup.RECEIPT_DAY
    dims = (t.c.store_id, t.c.register_id, t.c.cashier, t.c.channel, t.c.status)
    sums = (t.c.receipts, t.c.with_contact, t.c.deliveries, t.c.opened, t.c.viewed)
    return list(
        session.execute(
            sa.select(*dims, *(sa.func.sum(c) for c in sums))
            .where(*_rolled_where(t, view, filters, days))
            .group_by(*dims)
        ).all()
    )


def _raw_attempts(session: Session, view: View, filters: Filters) -> list[Any]:
    """(store, attempt channel, attempts, price) of the period's deliveries."""
    d = DELIVERY
    delivery_from, delivery_where = _deliveries(view, filters)
    return list(
        session.execute(
            sa.select(d.c.store_id, ATTEMPT.c.channel, sa.func.count(), sa.func.sum(ATTEMPT.c.price))
            .select_from(delivery_from.join(ATTEMPT, ATTEMPT.c.delivery_id == d.c.id))
            .where(*delivery_where)
            .group_by(d.c.store_id, ATTEMPT.c.channel)
        ).all()
    )


def _attempts(session: Session, view: View, filters: Filters, parts: rollup.Split) -> list[Any]:
    if filters.segment or not parts.rolled:  # the rollup has no segment: a segment reads every attempt
        return _raw_attempts(session, view, filters)
    t = rollup.ATTEMPT_DAY
    rows = list(
        session.execute(
            sa.select(t.c.store_id, t.c.attempt_channel, sa.func.sum(t.c.attempts), sa.func.sum(t.c.price))
            .where(*_rolled_where(t, view, filters, parts.rolled))
            .group_by(t.c.store_id, t.c.attempt_channel)
        ).all()
    )
    for raw in parts.raw:
        rows += _raw_attempts(session, view, raw)
    return rows


def sending(session: Session, view: View, filters: Filters) -> Dashboard:
    """The period's receipts grouped by (store, register, cashier, channel, status), which every table but
    the days' is summed from; the attempts' cost by (store, channel); the delivery time percentiles; the
    days. Whole past days come from the daily rollups (cloud/reports/rollup.py), the rest from raw rows."""
    dialect = session.get_bind().dialect.name
    operator_price = delivery_config.load(session, view.viewer.tenant_id).prices[OPERATOR]
    d = DELIVERY
    parts = rollup.split(session, view, filters)
    groups = _rolled_groups(session, view, filters, parts.rolled) if parts.rolled else []
    for raw in parts.raw:
        groups += _raw_groups(session, view, raw)
    delivery_from, delivery_where = _deliveries(view, filters)
    attempts = _attempts(session, view, filters, parts)
    cost_by_store: dict[int, int] = {}
    attempts_by_channel: dict[str, tuple[int, int]] = {}
    for store_id, channel, n, cost in attempts:
        cost_by_store[store_id] = cost_by_store.get(store_id, 0) + int(cost or 0)
        tries, spent = attempts_by_channel.get(channel, (0, 0))
        attempts_by_channel[channel] = (tries + int(n), spent + int(cost or 0))
    per_store: dict[int, list[int]] = {}  # receipts, with contact, deliveries, delivered, opened, viewed
    per_cashier: dict[tuple[int, int, str | None], list[int]] = {}
    delivered_by_channel: dict[str, int] = {}
    for store_id, register_id, name, channel, status, n, contact, deliveries, n_opened, viewed in groups:
        done = int(n) if status == DELIVERED else 0
        values = (int(n), int(contact), int(deliveries), done, int(n_opened or 0), int(viewed))
        acc = per_store.setdefault(store_id, [0] * 6)
        for i, v in enumerate(values):
            acc[i] += v
        c = per_cashier.setdefault((store_id, register_id, name), [0, 0])
        c[0] += int(n)
        c[1] += int(contact)
        if done and channel:
            delivered_by_channel[channel] = delivered_by_channel.get(channel, 0) + done
    rows: list[dict[str, Any]] = []
    total = {"receipts": 0, "with_contact": 0, "deliveries": 0, "delivered": 0, "opened": 0, "viewed": 0}
    total_cost = 0
    for store_id, (receipts, with_contact, deliveries, delivered, n_opened, viewed) in per_store.items():
        info = view.stores.get(store_id)
        cost = cost_by_store.get(store_id, 0)
        rows.append(
            {
                "store_id": store_id,
                "store": info.name if info else str(store_id),
                "region": info.region if info else None,
                "receipts": receipts,
                "with_contact": with_contact,
                "capture": share(with_contact, receipts),
                "delivered": delivered,
                "opened": n_opened,
                "open_rate": share(n_opened, delivered),
                "cost": cost,
                "saving": deliveries * operator_price - cost,
            }
        )
        for key, value in zip(
            total, (receipts, with_contact, deliveries, delivered, n_opened, viewed), strict=True
        ):
            total[key] += value
        total_cost += cost
    operator_cost = total["deliveries"] * operator_price
    p50, p95 = percentiles(
        session,
        seconds_between(d.c.finished_at, d.c.created_at, dialect),
        [*delivery_where, d.c.status == DELIVERED, d.c.finished_at.is_not(None)],
        delivery_from,
        (0.5, 0.95),
    )
    figures = [
        Figure("Чеков", total["receipts"], id="receipts"),
        Figure(
            "С контактом покупателя",
            share(total["with_contact"], total["receipts"]),
            Kind.SHARE,
            f"{format_value(total['with_contact'], Kind.INT)} чеков",
            id="capture",
        ),
        Figure(
            "Доставлено",
            total["delivered"],
            note=_of(total["delivered"], total["deliveries"], "отправок"),
            id="delivered",
        ),
        Figure(
            "Открыто людьми",
            share(total["opened"], total["delivered"]),
            Kind.SHARE,
            f"{format_value(total['opened'], Kind.INT)} чеков; страницу загружали "
            f"{format_value(total['viewed'], Kind.INT)} раз (и роботы тоже)",
            id="open_rate",
        ),
        Figure(
            "Стоимость отправки",
            total_cost,
            Kind.KOPECKS,
            f"у оператора ФД было бы {format_value(operator_cost, Kind.KOPECKS)}",
            id="cost",
        ),
        Figure(
            "Экономия",
            operator_cost - total_cost,
            Kind.KOPECKS,
            _saving_note(operator_cost, total_cost, operator_price),
            id="saving",
        ),
        Figure("Время доставки, медиана", p50, Kind.SECONDS, "от получения чека до «доставлено»", id="p50"),
        Figure("Время доставки, 95 %", p95, Kind.SECONDS, id="p95"),
    ]
    channels = _channels(delivered_by_channel, attempts_by_channel, total["delivered"])
    days = _days(session, view, filters, dialect, parts)
    cashiers = _cashiers(view, per_cashier)
    pct = lambda v: format_value(v, Kind.SHARE)  # noqa: E731
    chart_list = [
        Chart(
            "Чеков по дням",
            charts.columns(
                [(r["day"][5:], r["receipts"]) for r in days.rows],
                "Чеков по дням",
                lambda v: format_value(v, Kind.INT),
            ),
        ),
        Chart(
            "Каналы доставленных чеков",
            charts.bars([(r["channel"], r["share"] or 0) for r in channels.rows], "Доли каналов", pct),
        ),
        Chart(
            "Доля чеков с контактом по магазинам",
            charts.bars(
                sorted(((r["store"], r["capture"] or 0) for r in rows), key=lambda x: -x[1]),
                "Доля с контактом по магазинам",
                pct,
            ),
        ),
    ]
    return Dashboard(
        slug="sending",
        title="Отправка чеков",
        figures=figures,
        charts=chart_list,
        tables=[
            Table("stores", "По магазинам", STORE_COLUMNS, rows, default_sort="receipts"),
            cashiers,
            channels,
            days,
        ],
    )


def _of(part: int, whole: int, what: str) -> str:
    rate = share(part, whole)
    return f"из {format_value(whole, Kind.INT)} {what} ({format_value(rate, Kind.SHARE)})"


def _saving_note(operator_cost: int, cost: int, operator_price: int) -> str:
    rate = share(operator_cost - cost, operator_cost)
    return (
        f"{format_value(rate, Kind.SHARE)} против {format_value(operator_price, Kind.KOPECKS)} за чек "
        "у оператора фискальных данных"
    )


def _channels(delivered: dict[str, int], attempts: dict[str, tuple[int, int]], delivered_total: int) -> Table:
    rows = []
    others = sorted(str(c) for c in (set(delivered) | set(attempts)) - set(CHANNELS) - {None})
    for channel in [*CHANNELS, *others]:
        n = int(delivered.get(channel) or 0)
        tries, cost = attempts.get(channel, (0, 0))
        if n or tries:
            rows.append(
                {
                    "channel": CHANNELS.get(channel, channel),
                    "delivered": n,
                    "share": share(n, delivered_total),
                    "attempts": int(tries),
                    "cost": int(cost or 0),
                }
            )
    return Table("channels", "Каналы", CHANNEL_COLUMNS, rows, default_sort="delivered")


def _days(session: Session, view: View, filters: Filters, dialect: str, parts: rollup.Split) -> Table:
    found: dict[str, tuple[int, int]] = {}
    if parts.rolled:
        t = rollup.RECEIPT_DAY
        for k, n, c in session.execute(
            sa.select(t.c.day, sa.func.sum(t.c.receipts), sa.func.sum(t.c.with_contact))
            .where(*_rolled_where(t, view, filters, parts.rolled))
            .group_by(t.c.day)
        ).all():
            found[str(k)] = (int(n), int(c))
    r = RECEIPT
    for raw in parts.raw:
        day = local_day(r.c.received_at, raw, dialect)
        for k, n, c in session.execute(
            sa.select(day, sa.func.count(), sa.func.count(r.c.contact_hash))
            .select_from(_joined(raw) if raw.channel else RECEIPT)
            .where(*receipt_where(view, raw), *channel_condition(raw))
            .group_by(day)
        ).all():
            found[str(k)] = (int(n), int(c))
    rows = []
    for label in day_labels(filters):
        n, c = found.get(label, (0, 0))
        rows.append({"day": label, "receipts": n, "with_contact": c, "capture": share(c, n)})
    return Table("days", "По дням", DAY_COLUMNS, rows, default_sort="day", default_desc=False)


def _cashiers(view: View, per_cashier: dict[tuple[int, int, str | None], list[int]]) -> Table:
    rows = []
    for (store_id, register_id, name), (n, c) in per_cashier.items():
        info = view.stores.get(store_id)
        rows.append(
            {
                "store": info.name if info else str(store_id),
                "register": register_id,
                "cashier": name or "не указан",
                "receipts": n,
                "with_contact": c,
                "capture": share(c, n),
            }
        )
    return Table(
        "cashiers",
        "По кассам и кассирам",
        CASHIER_COLUMNS,
        rows,
        default_sort="capture",
        default_desc=False,
        note="Кассир — из поля extra.cashier чека (тег 1021), если касса его передаёт.",
    )
