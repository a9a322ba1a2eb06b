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

from cloud.pages import holdout
from cloud.pages.models import PageAnswer, PageExposure
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.privacy.models import ConsentRecord
from cloud.reports import charts, rollup
from cloud.reports.filters import SEGMENTS, Filters
from cloud.reports.scope import View
from cloud.reports.sql import (
    DELIVERY,
    RECEIPT,
    channel_condition,
    plus_days,
    segment_condition,
    segment_expression,
    store_in,
)
from cloud.reports.tables import Chart, Column, Dashboard, Figure, Kind, Table, format_value, share
from cloud.tracking.models import TrackingEvent

EVENT: sa.Table = TrackingEvent.__table__  # type: ignore[attr-defined]
PROMO: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
RULE: sa.Table = PromoRule.__table__  # type: ignore[attr-defined]
ANSWER: sa.Table = PageAnswer.__table__  # type: ignore[attr-defined]
EXPOSURE: sa.Table = PageExposure.__table__  # type: ignore[attr-defined]
CONSENT: sa.Table = ConsentRecord.__table__  # type: ignore[attr-defined]
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


def _counts(session: Session, view: View, filters: Filters) -> dict[tuple[Any, ...], dict[str, int]]:
    """Events per (segment, block) and type: whole past days from the daily rollups, the rest raw."""
    parts = rollup.split(session, view, filters)
    rows: list[Any] = []
    if parts.rolled:
        t = rollup.EVENT_DAY
        where = [
            t.c.tenant_id == view.viewer.tenant_id,
            t.c.day.in_(parts.rolled),
            *store_in(t.c.store_id, view),
        ]
        if filters.segment:
            where.append(t.c.segment == filters.segment)
        if filters.channel:
            where.append(t.c.channel == filters.channel)
        rows += session.execute(
            sa.select(t.c.segment, t.c.block_id, t.c.type, sa.func.sum(t.c.events))
            .where(*where)
            .group_by(t.c.segment, t.c.block_id, t.c.type)
        ).all()
    by = [segment_expression(), EVENT.c.block_id]
    for raw in parts.raw:
        froms, where = _event_base(view, raw)
        rows += session.execute(
            sa.select(*by, EVENT.c.type, sa.func.count())
            .select_from(froms)
            .where(*where, EVENT.c.type.in_(rollup.ELEMENT_EVENTS))
            .group_by(*by, EVENT.c.type)
        ).all()
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for segment, block, kind, n in rows:
        counts = out.setdefault((segment, block), {})
        counts[kind] = counts.get(kind, 0) + int(n)
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


ANSWER_KINDS = {"loyalty": "программа лояльности", "enrichment": "анкета", "survey": "опрос"}
ANSWER_COLUMNS = (
    Column("kind", "Блок-форма", Kind.TEXT),
    Column("block", "Блок", Kind.TEXT),
    Column("field", "Поле", Kind.TEXT),
    Column("answers", "Ответов"),
    Column("buyers", "Покупателей"),
)
HOLDOUT_COLUMNS = (
    Column("block", "Блок", Kind.TEXT),
    Column("shown", "Показан (чеков)"),
    Column("held_out", "Контрольная группа"),
    Column("signup_lift", "Прирост регистраций, п.п.", Kind.NUMBER),
    Column("signup_ci", "95 % интервал", Kind.TEXT),
    Column("repeat_lift", "Прирост повторных покупок, п.п.", Kind.NUMBER),
    Column("repeat_ci", "95 % интервал ", Kind.TEXT),
)


def _answers(session: Session, view: View, filters: Filters) -> Table:
    """Answers left in the page's forms, by block and field (counts only: the values are personal)."""
    start, end = filters.utc_range()
    a = ANSWER
    rows = session.execute(
        sa.select(
            a.c.kind, a.c.block_id, a.c.field, sa.func.count(), sa.func.count(sa.distinct(a.c.contact_hash))
        )
        .select_from(a.join(RECEIPT, RECEIPT.c.id == a.c.receipt_id))
        .where(
            a.c.tenant_id == view.viewer.tenant_id,
            a.c.at >= start,
            a.c.at < end,
            *store_in(RECEIPT.c.store_id, view),
            *segment_condition(filters.segment),
        )
        .group_by(a.c.kind, a.c.block_id, a.c.field)
    ).all()
    return Table(
        "answers",
        "Ответы в формах чека",
        ANSWER_COLUMNS,
        [
            {"kind": ANSWER_KINDS.get(k, k), "block": b, "field": f, "answers": n, "buyers": buyers}
            for k, b, f, n, buyers in rows
        ],
        default_sort="answers",
        note="Сами ответы (e-mail, дата рождения, оценки) — в выгрузке CRM шаблона чека, не здесь.",
    )


def _pp(value: float) -> float:
    return round(value * 100, 2)


def _holdouts(session: Session, view: View, filters: Filters) -> Table:
    """Blocks with a holdout: receipts of the period in view that showed the block against those held out of
    it; sign-ups and repeat purchases (in the stores in view) within 30 days; lift with its interval."""
    start, end = filters.utc_range()
    e = EXPOSURE
    exposed = session.execute(
        sa.select(e.c.block_id, e.c.receipt_id, e.c.held_out, e.c.contact_hash, RECEIPT.c.received_at)
        .select_from(e.join(RECEIPT, RECEIPT.c.id == e.c.receipt_id))
        .where(
            e.c.tenant_id == view.viewer.tenant_id,
            e.c.contact_hash.is_not(None),
            RECEIPT.c.received_at >= start,
            RECEIPT.c.received_at < end,
            *store_in(RECEIPT.c.store_id, view),
            *segment_condition(filters.segment),
        )
    ).all()
    held_blocks = {b for b, _r, held, _h, _at in exposed if held}
    exposed = [x for x in exposed if x[0] in held_blocks]
    hashes = sorted({h for _b, _r, _held, h, _at in exposed})
    later: dict[str, list[tuple[int, Any]]] = {}
    joined: dict[str, list[Any]] = {}
    horizon = end + holdout.WINDOW
    for chunk in (hashes[i : i + 500] for i in range(0, len(hashes), 500)):
        for rid, h, at in session.execute(
            sa.select(RECEIPT.c.id, RECEIPT.c.contact_hash, RECEIPT.c.received_at).where(
                RECEIPT.c.tenant_id == view.viewer.tenant_id,
                RECEIPT.c.contact_hash.in_(chunk),
                RECEIPT.c.received_at >= start,
                RECEIPT.c.received_at < horizon,
                *store_in(RECEIPT.c.store_id, view),
            )
        ):
            later.setdefault(h, []).append((rid, at))
        for h, at in session.execute(
            sa.select(CONSENT.c.subject_hash, CONSENT.c.recorded_at).where(
                CONSENT.c.tenant_id == view.viewer.tenant_id,
                CONSENT.c.purpose == "loyalty",
                CONSENT.c.granted.is_(True),
                CONSENT.c.subject_hash.in_(chunk),
            )
        ):
            joined.setdefault(h, []).append(at)
    by_block: dict[str, list[holdout.Outcome]] = {}
    for block, receipt_id, held, h, at in exposed:
        came_back = any(r > receipt_id and at <= w <= at + holdout.WINDOW for r, w in later.get(h, ()))
        signed_up = any(at <= w <= at + holdout.WINDOW for w in joined.get(h, ()))
        by_block.setdefault(block, []).append(holdout.Outcome(bool(held), signed_up, came_back))
    rows = []
    for block, outcomes in sorted(by_block.items()):
        lift = holdout.lift_of(block, outcomes)
        rows.append(
            {
                "block": block,
                "shown": lift.shown,
                "held_out": lift.held_out,
                "signup_lift": _pp(lift.signups.absolute) if lift.signups else None,
                "signup_ci": _ci(lift.signups),
                "repeat_lift": _pp(lift.repeats.absolute) if lift.repeats else None,
                "repeat_ci": _ci(lift.repeats),
            }
        )
    return Table(
        "holdout",
        "Контрольные группы (holdout): прирост",
        HOLDOUT_COLUMNS,
        rows,
        default_sort="shown",
        missing=None if rows else "за период нет чеков с блоками, у которых есть контрольная группа",
        note="Прирост — разница долей (показан − контрольная группа) за 30 дней после чека, в процентных "
        "пунктах; интервал — 95 % (cloud/attribution/lift.py). Интервал, накрывающий 0, — эффект не доказан.",
    )


def _ci(lift: Any) -> str | None:
    if lift is None:
        return None
    return f"{_pp(lift.ci_low):+.2f} … {_pp(lift.ci_high):+.2f}".replace(".", ",")


def elements(session: Session, view: View, filters: Filters) -> Dashboard:
    per_segment = _counts(session, view, filters)
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
            _answers(session, view, filters),
            _holdouts(session, view, filters),
        ],
        notes=notes,
    )
