"""The Template elements dashboard: what the blocks of the e-receipt page did. Impressions, clicks and CTR
per block and buyer segment; site visits and online orders after a click; offline purchases by the same
buyer within 30 days of a click; sign-ups; promo codes issued and redeemed. Sources that have not landed yet
(profile answers, holdout groups) are shown as "нет данных" with the reason.

Every event is counted through its receipt (`tracking_event.receipt_id`): that is what puts it in a store,
so a scoped viewer counts only the events of their stores' receipts.
"""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.reports import charts
from cloud.reports.filters import SEGMENTS, Filters
from cloud.reports.scope import View
from cloud.reports.sql import DELIVERY, RECEIPT, channel_condition, plus_days, segment_condition, store_in
from cloud.reports.tables import Chart, Column, Dashboard, Figure, Kind, Table, format_value, share
from cloud.tracking.models import TrackingEvent

EVENT: sa.Table = TrackingEvent.__table__  # type: ignore[attr-defined]
PROMO: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
RULE: sa.Table = PromoRule.__table__  # type: ignore[attr-defined]
AFTER_CLICK_DAYS = 30  # a purchase this soon after a click counts as "after the click"

BLOCK_COLUMNS = (
    Column("block", "Блок", Kind.TEXT),
    Column("impressions", "Показы"),
    Column("clicks", "Клики"),
    Column("ctr", "CTR", Kind.SHARE),
    Column("visits", "Переходы на сайт"),
    Column("orders", "Заказы онлайн"),
    Column("offline", "Покупки в магазине за 30 дней"),
    Column("offline_revenue", "Их выручка", Kind.KOPECKS),
)
SEGMENT_COLUMNS = (
    Column("segment", "Сегмент", Kind.TEXT),
    Column("block", "Блок", Kind.TEXT),
    Column("impressions", "Показы"),
    Column("clicks", "Клики"),
    Column("ctr", "CTR", Kind.SHARE),
)
PROMO_COLUMNS = (
    Column("rule", "Акция", Kind.TEXT),
    Column("issued", "Выдано кодов"),
    Column("redeemed", "Погашено"),
    Column("rate", "Доля погашенных", Kind.SHARE),
)


def segment_expression() -> Any:
    r = RECEIPT
    return sa.case(
        (r.c.loyalty_card.is_not(None), "card"),
        (r.c.contact_hash.is_not(None), "contact"),
        else_="anonymous",
    )


def _event_base(view: View, filters: Filters) -> tuple[Any, list[Any]]:
    """Events of the period joined to their receipt (and its delivery when a channel is chosen)."""
    start, end = filters.utc_range()
    froms = EVENT.join(RECEIPT, RECEIPT.c.id == EVENT.c.receipt_id)
    if filters.channel:
        froms = froms.join(DELIVERY, DELIVERY.c.receipt_id == RECEIPT.c.id)
    where = [
        EVENT.c.tenant_id == view.viewer.tenant_id,
        RECEIPT.c.tenant_id == view.viewer.tenant_id,
        EVENT.c.received_at >= start,
        EVENT.c.received_at < end,
        EVENT.c.bot.is_(None),
        *store_in(RECEIPT.c.store_id, view),
        *segment_condition(filters.segment),
        *channel_condition(filters),
    ]
    return froms, where


def _counts(
    session: Session, view: View, filters: Filters, by: list[Any]
) -> dict[tuple[Any, ...], dict[str, int]]:
    froms, where = _event_base(view, filters)
    rows = session.execute(
        sa.select(*by, EVENT.c.type, sa.func.count())
        .select_from(froms)
        .where(*where, EVENT.c.type.in_(("block_view", "block_click", "pageview", "order", "signup")))
        .group_by(*by, EVENT.c.type)
    ).all()
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for *key, kind, n in rows:
        out.setdefault(tuple(key), {})[kind] = int(n)
    return out


def _offline_after_click(session: Session, view: View, filters: Filters) -> dict[str, tuple[int, int]]:
    """Per block: receipts (and their revenue) of the same buyer in the stores in view, within 30 days
    after a click on that block (each later receipt counted once per block)."""
    froms, where = _event_base(view, filters)
    later = RECEIPT.alias("later")
    clicks = (
        sa.select(EVENT.c.block_id, EVENT.c.received_at.label("at"), RECEIPT.c.contact_hash.label("contact"))
        .select_from(froms)
        .where(*where, EVENT.c.type == "block_click", RECEIPT.c.contact_hash.is_not(None))
        .subquery()
    )
    pairs = (
        sa.select(clicks.c.block_id, later.c.id, later.c.total)
        .select_from(clicks.join(later, later.c.contact_hash == clicks.c.contact))
        .where(
            later.c.tenant_id == view.viewer.tenant_id,
            later.c.received_at > clicks.c.at,
            later.c.received_at <= plus_days(clicks.c.at, AFTER_CLICK_DAYS, session.get_bind().dialect.name),
            *store_in(later.c.store_id, view),
        )
        .distinct()
        .subquery()
    )
    rows = session.execute(
        sa.select(pairs.c.block_id, sa.func.count(), sa.func.sum(pairs.c.total)).group_by(pairs.c.block_id)
    ).all()
    return {str(block): (int(n), int(revenue or 0)) for block, n, revenue in rows}


def _promo(session: Session, view: View, filters: Filters) -> Table:
    start, end = filters.utc_range()
    p = PROMO
    froms = p.join(RULE, RULE.c.id == p.c.rule_id).join(RECEIPT, RECEIPT.c.id == p.c.receipt_id)
    if filters.channel:
        froms = froms.join(DELIVERY, DELIVERY.c.receipt_id == RECEIPT.c.id)
    rows = session.execute(
        sa.select(RULE.c.name, sa.func.count(), sa.func.count(p.c.redeemed_at))
        .select_from(froms)
        .where(
            p.c.tenant_id == view.viewer.tenant_id,
            p.c.issued_at >= start,
            p.c.issued_at < end,
            *store_in(p.c.store_id, view),
            *segment_condition(filters.segment),
            *channel_condition(filters),
        )
        .group_by(RULE.c.name)
    ).all()
    return Table(
        "promo",
        "Промокоды",
        PROMO_COLUMNS,
        [{"rule": name, "issued": n, "redeemed": r, "rate": share(r, n)} for name, n, r in rows],
        default_sort="issued",
        note="Коды, выданные за период в магазинах отчёта; погашенные — из них, когда бы ни погасили.",
    )


def elements(session: Session, view: View, filters: Filters) -> Dashboard:
    per_segment = _counts(session, view, filters, [segment_expression(), EVENT.c.block_id])
    per_block: dict[tuple[Any, ...], dict[str, int]] = {}
    for (_segment, block_id), counts in per_segment.items():  # one query; the blocks summed from it
        into = per_block.setdefault((block_id,), {})
        for kind, n in counts.items():
            into[kind] = into.get(kind, 0) + n
    offline = _offline_after_click(session, view, filters)
    blocks = []
    totals = {"block_view": 0, "block_click": 0, "pageview": 0, "order": 0, "signup": 0}
    for (block,), counts in per_block.items():
        for k in totals:
            totals[k] += counts.get(k, 0)
        if block is None:
            continue  # sign-ups and page views that name no block: in the totals only
        n_offline, revenue = offline.get(str(block), (0, 0))
        blocks.append(
            {
                "block": block,
                "impressions": counts.get("block_view", 0),
                "clicks": counts.get("block_click", 0),
                "ctr": share(counts.get("block_click", 0), counts.get("block_view", 0)),
                "visits": counts.get("pageview", 0),
                "orders": counts.get("order", 0),
                "offline": n_offline,
                "offline_revenue": revenue,
            }
        )
    segments = [
        {
            "segment": SEGMENTS.get(str(seg), str(seg)),
            "block": block,
            "impressions": counts.get("block_view", 0),
            "clicks": counts.get("block_click", 0),
            "ctr": share(counts.get("block_click", 0), counts.get("block_view", 0)),
        }
        for (seg, block), counts in per_segment.items()
        if block is not None and (counts.get("block_view") or counts.get("block_click"))
    ]
    promo = _promo(session, view, filters)
    issued = sum(r["issued"] for r in promo.rows)
    redeemed = sum(r["redeemed"] for r in promo.rows)
    no_events = not per_block
    figures = [
        Figure("Показы блоков", totals["block_view"], id="impressions"),
        Figure("Клики", totals["block_click"], id="clicks"),
        Figure("CTR", share(totals["block_click"], totals["block_view"]), Kind.SHARE, id="ctr"),
        Figure("Регистрации", totals["signup"], note="со страниц чеков магазинов отчёта", id="signups"),
        Figure("Промокодов выдано", issued, id="promo_issued"),
        Figure(
            "Погашено",
            redeemed,
            note=f"{format_value(share(redeemed, issued), Kind.SHARE)} выданных",
            id="promo_redeemed",
        ),
    ]
    notes = []
    if no_events:
        notes.append(
            "Нет событий страницы чека за период: показы и клики появятся, когда страницы чеков начнут "
            "отправлять события (cloud/tracking)."
        )
    return Dashboard(
        slug="elements",
        title="Элементы чека",
        figures=figures,
        charts=[
            Chart(
                "CTR по блокам",
                charts.bars(
                    sorted(((b["block"], b["ctr"] or 0.0) for b in blocks), key=lambda x: -x[1]),
                    "CTR по блокам",
                    lambda v: format_value(v, Kind.SHARE),
                ),
            ),
        ],
        tables=[
            Table(
                "blocks",
                "По блокам",
                BLOCK_COLUMNS,
                blocks,
                default_sort="clicks",
                note="Переходы и заказы — события сайта с меткой клика из чека; покупки в магазине — "
                "чеки того же покупателя (по контакту) в течение 30 дней после клика.",
            ),
            Table("segments", "По блокам и сегментам", SEGMENT_COLUMNS, segments, default_sort="impressions"),
            promo,
            Table(
                "answers",
                "Ответы на вопросы профиля",
                (Column("question", "Вопрос", Kind.TEXT),),
                [],
                missing="ответы на вопросы профиля ещё не записываются "
                "(редактор шаблонов и анкеты — в работе)",
            ),
            Table(
                "holdout",
                "Контрольные группы (holdout) и прирост",
                (Column("block", "Блок", Kind.TEXT),),
                [],
                missing="назначение контрольных групп ещё не записывается: "
                "прирост с доверительным интервалом (cloud/attribution/lift.py) появится, "
                "когда блоки начнут держать holdout",
            ),
        ],
        notes=notes,
    )
