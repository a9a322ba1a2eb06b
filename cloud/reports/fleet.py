"""The Fleet dashboard (it was /fleet): every store's registers and their state, beside today's business
figures: receipts today and the share of them with a buyer's contact."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cloud.fleet.health import FleetPolicy
from cloud.fleet.status import fleet_status
from cloud.reports import charts
from cloud.reports.filters import Filters, today
from cloud.reports.scope import View
from cloud.reports.sql import RECEIPT, store_in
from cloud.reports.tables import Chart, Column, Dashboard, Figure, Kind, Table, format_value, share

STATE_LABELS = {
    "online": "на связи",
    "offline": "не на связи",
    "stale": "давно молчит",
    "never_seen": "ещё не выходила на связь",
    "revoked": "токен отозван",
    None: "нет касс",
}
STORE_COLUMNS = (
    Column("store", "Магазин", Kind.TEXT),
    Column("region", "Регион", Kind.TEXT),
    Column("state", "Состояние", Kind.TEXT),
    Column("update_channel", "Обновления", Kind.TEXT),
    Column("registers", "Касс"),
    Column("online", "На связи"),
    Column("with_problems", "С проблемами"),
    Column("queued", "Ждут отправки"),
    Column("receipts_today", "Чеков сегодня"),
    Column("capture_today", "С контактом сегодня", Kind.SHARE),
)
REGISTER_COLUMNS = (
    Column("store", "Магазин", Kind.TEXT),
    Column("register", "Касса"),
    Column("hostname", "Компьютер", Kind.TEXT),
    Column("state", "Состояние", Kind.TEXT),
    Column("last_heartbeat", "Последний сигнал", Kind.TEXT),
    Column("queued", "В очереди"),
    Column("oldest_unsynced_s", "Старейший в очереди", Kind.SECONDS),
    Column("last_sync", "Последняя отправка", Kind.TEXT),
    Column("clock_skew_s", "Часы", Kind.SKEW),
    Column("version", "Версия", Kind.TEXT),
    Column("receipts_today", "Чеков сегодня"),
    Column("problems", "Проблемы", Kind.TEXT),
)


def _moment(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else None


def _today(session: Session, view: View, filters: Filters, now: datetime) -> dict[int, tuple[int, int, int]]:
    """Per register: (store, receipts, with contact) received since today's start in the tenant's zone."""
    day = today(filters.time_zone, now)
    start, end = Filters(since=day, until=day, time_zone=filters.time_zone).utc_range()
    r = RECEIPT
    rows = session.execute(
        sa.select(r.c.register_id, r.c.store_id, sa.func.count(), sa.func.count(r.c.contact_hash))
        .where(
            r.c.tenant_id == view.viewer.tenant_id,
            r.c.received_at >= start,
            r.c.received_at < end,
            *store_in(r.c.store_id, view),
        )
        .group_by(r.c.register_id, r.c.store_id)
    ).all()
    return {register_id: (store_id, n, c) for register_id, store_id, n, c in rows}


def fleet(session: Session, view: View, filters: Filters, policy: FleetPolicy, now: datetime) -> Dashboard:
    status = fleet_status(
        session,
        view.viewer.tenant_id,
        policy,
        now=now,
        store_ids=frozenset(view.ids) if view.restricted else None,
    )
    by_register = _today(session, view, filters, now)
    stores: list[dict[str, Any]] = []
    registers: list[dict[str, Any]] = []
    total_receipts = total_contact = 0
    for store in status.stores:
        receipts = sum(n for s, n, _c in by_register.values() if s == store.id)
        contact = sum(c for s, _n, c in by_register.values() if s == store.id)
        total_receipts += receipts
        total_contact += contact
        stores.append(
            {
                "store_id": store.id,
                "store": store.name,
                "region": store.region,
                "state": STATE_LABELS.get(store.state, "—"),
                "state_key": store.state or "none",
                "update_channel": "бета" if store.update_channel == "beta" else "основной канал",
                "registers": len(store.registers),
                "online": sum(r.state == "online" for r in store.registers),
                "with_problems": sum(bool(r.problems) for r in store.registers),
                "queued": sum(r.queue_depth for r in store.registers),
                "receipts_today": receipts,
                "capture_today": share(contact, receipts),
            }
        )
        for r in store.registers:
            registers.append(
                {
                    "store": store.name,
                    "register": r.id,
                    "hostname": r.hostname or None,
                    "state": STATE_LABELS[r.state],
                    "state_key": r.state,
                    "revoked": r.revoked_at is not None,
                    "last_heartbeat": _moment(r.last_heartbeat_at),
                    "queued": r.queue_depth,
                    "oldest_unsynced_s": r.oldest_unsynced_age_s,
                    "last_sync": _moment(r.last_sync_at),
                    "clock_skew_s": r.clock_skew_s,
                    "version": (r.agent_version or "—")
                    + (f" ({r.update_channel})" if r.update_channel else "")
                    if r.agent_version or r.update_channel
                    else None,
                    "receipts_today": by_register.get(r.id, (0, 0, 0))[1],
                    "problems": "; ".join(r.problems) or None,
                }
            )
    t = status.totals
    figures = [
        Figure("Касс", t.registers, id="registers"),
        Figure(
            "На связи",
            t.online,
            note=f"не на связи {t.offline}, давно молчат {t.stale}, "
            f"ещё не выходили на связь {t.never_seen}, отозвано {t.revoked}",
            id="online",
        ),
        Figure("С проблемами", t.with_problems, id="with_problems"),
        Figure("Чеков ждут отправки", t.queued, id="queued"),
        Figure("Чеков сегодня", total_receipts, id="receipts_today"),
        Figure(
            "С контактом сегодня",
            share(total_contact, total_receipts),
            Kind.SHARE,
            f"{format_value(total_contact, Kind.INT)} чеков",
            id="capture_today",
        ),
    ]
    states = [
        (label, sum(r["state_key"] == key for r in registers)) for key, label in STATE_LABELS.items() if key
    ]
    return Dashboard(
        slug="fleet",
        title="Кассы",
        figures=figures,
        charts=[
            Chart(
                "Кассы по состоянию",
                charts.bars(
                    [s for s in states if s[1]], "Кассы по состоянию", lambda v: format_value(v, Kind.INT)
                ),
            ),
        ],
        tables=[
            Table("stores", "Магазины", STORE_COLUMNS, stores, default_sort="with_problems"),
            Table(
                "registers",
                "Кассы",
                REGISTER_COLUMNS,
                registers,
                default_sort="queued",
                note=f"«На связи» — сигнал пришёл в пределах своего интервала + {policy.grace_s:.0f} с, "
                f"«давно молчит» — дольше {policy.stale_after_s:.0f} с. На {_moment(status.generated_at)}.",
            ),
        ],
    )
