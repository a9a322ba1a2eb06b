"""The ROPO dashboard: offline purchases with an online touch before them, by channel, campaign, store and
region, and the credit of the chosen attribution model beside the others.

Two sources, one page (`dashboard(figures, model)`):
- `stored_figures`: when the attribution job has attributed days of the period, SQL sums over what it stored
  (cloud/attribution/aggregates.py): no journey is built in the request, so a chain's month answers in
  seconds. Markov is the sum of the job's daily estimates (said under its column); days never attributed
  are named in a note, the figures being those of the attributed days.
- `computed_figures(ropo_inputs(...))`: while no day of the period is attributed, the purchases and
  journeys built from what the cloud holds, and cloud/attribution's pure functions:
  - a buyer's profile is the receipt's contact hash (one phone or e-mail = one buyer);
  - a browser belongs to a buyer once it opened or clicked one of that buyer's e-receipts (an event with the
    receipt's id); its site sessions (page views with their UTM, click ids and referrer) are the touches;
  - e-receipt block clicks are touches of the "ereceipt" channel.
  The dashboard says so in its notes.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cloud.attribution import aggregates
from cloud.attribution.journeys import (
    DEFAULT_LOOKBACK,
    Journey,
    Purchase,
    Touch,
    TouchKind,
    build_journeys,
    classify_channel,
    url_host,
)
from cloud.attribution.models import DEFAULT_MODEL, Model, compare_models
from cloud.attribution.ropo import Dimension, RopoRow, ropo_report
from cloud.reports import charts
from cloud.reports.filters import Filters, today
from cloud.reports.scope import View
from cloud.reports.sql import RECEIPT, channel_condition, receipt_where
from cloud.reports.tables import Chart, Column, Dashboard, Figure, Kind, Table, format_value, share
from cloud.tracking.models import TrackingEvent

EVENT: sa.Table = TrackingEvent.__table__  # type: ignore[attr-defined]
SALE = 1  # tag 1054: "приход"; refunds are not purchases
LINKING = ("receipt_open", "receipt_fetch", "block_view", "block_click")
MODEL_LABELS = {
    Model.LAST_NON_DIRECT_CLICK: "последний непрямой клик",
    Model.FIRST_TOUCH: "первое касание",
    Model.LINEAR: "линейная",
    Model.POSITION_BASED: "по позиции 40/20/40",
    Model.TIME_DECAY: "с угасанием (7 дней)",
    Model.MARKOV: "цепи Маркова",
}
ROPO_COLUMNS = (
    Column("key", "Срез", Kind.TEXT),
    Column("receipts", "Чеков"),
    Column("revenue", "Выручка", Kind.KOPECKS),
    Column("identified", "Покупатель известен", Kind.SHARE),
    Column("ropo_receipts", "Чеков с касанием онлайн"),
    Column("ropo_share", "Доля ROPO, чеки", Kind.SHARE),
    Column("ropo_revenue", "Выручка ROPO", Kind.KOPECKS),
    Column("ropo_revenue_share", "Доля ROPO, выручка", Kind.SHARE),
    Column("ropo_revenue_share_identified", "Доля ROPO в выручке известных", Kind.SHARE),
    Column("ropo_buyers", "Доля покупателей с касанием", Kind.SHARE),
)
# What the touch channels (cloud.attribution.journeys.Channel) are called on the page.
CHANNEL_LABELS = {
    "direct": "прямые заходы",
    "paid_search": "платный поиск",
    "paid_social": "реклама в соцсетях",
    "display": "медийная реклама",
    "organic_search": "поиск",
    "organic_social": "соцсети",
    "email": "e-mail рассылки",
    "messenger": "мессенджеры",
    "sms": "SMS",
    "referral": "переходы с сайтов",
    "affiliate": "партнёры",
    "ereceipt": "электронный чек",
    "promo_code": "промокод",
    "other": "другое",
}
# By channel or campaign, a row counts the purchases with a touch of it: its denominators are all purchases.
TOUCH_COLUMNS = (
    Column("key", "Срез", Kind.TEXT),
    Column("ropo_receipts", "Чеков с касанием"),
    Column("ropo_share", "Доля чеков", Kind.SHARE),
    Column("ropo_revenue", "Их выручка", Kind.KOPECKS),
    Column("ropo_revenue_share", "Доля выручки", Kind.SHARE),
    Column("ropo_revenue_share_identified", "Доля в выручке известных", Kind.SHARE),
    Column("ropo_buyers", "Доля покупателей", Kind.SHARE),
)
CREDIT_COLUMNS = (
    Column("key", "Канал", Kind.TEXT),
    Column("conversions", "Покупок (доля)", Kind.NUMBER),
    Column("revenue", "Выручка", Kind.KOPECKS),
    Column("revenue_share", "Доля выручки", Kind.SHARE),
)


@dataclass(frozen=True, slots=True)
class RopoInputs:
    purchases: list[Purchase]
    journeys: list[Journey]
    linked_browsers: int | None  # None: the stored journeys (identity linked them)
    missing: list[str]


def ropo_inputs(session: Session, view: View, filters: Filters) -> RopoInputs:
    """Purchases (offline sale receipts of the period in view) and their buyers' journeys (see the module)."""
    r = RECEIPT
    froms: Any = r
    if filters.channel:
        from cloud.reports.sql import DELIVERY

        froms = r.join(DELIVERY, DELIVERY.c.receipt_id == r.c.id)
    rows = session.execute(
        sa.select(r.c.id, r.c.received_at, r.c.total, r.c.store_id, r.c.contact_hash)
        .select_from(froms)
        .where(*receipt_where(view, filters), *channel_condition(filters), r.c.calculation_type == SALE)
    ).all()
    purchases = []
    for receipt_id, at, total, store_id, contact in rows:
        info = view.stores.get(store_id)
        purchases.append(
            Purchase(
                receipt_id=str(receipt_id),
                at=at,
                revenue=int(total),
                store_id=info.name if info else str(store_id),
                region=(info.region if info else None) or "—",
                profile_id=contact,
            )
        )
    start, end = filters.utc_range()
    touch_start = start - DEFAULT_LOOKBACK
    tenant = view.viewer.tenant_id
    # Browsers that opened, fetched or clicked any of the tenant's receipts with a contact: their buyer.
    linked = session.execute(
        sa.select(EVENT.c.browser_id, r.c.contact_hash)
        .select_from(EVENT.join(r, r.c.id == EVENT.c.receipt_id))
        .where(
            EVENT.c.tenant_id == tenant,
            r.c.tenant_id == tenant,
            EVENT.c.type.in_(LINKING),
            EVENT.c.browser_id.is_not(None),
            r.c.contact_hash.is_not(None),
            EVENT.c.received_at < end,
        )
        .distinct()
    ).all()
    profile_of: dict[str, str] = {}
    for browser, contact in linked:
        profile_of.setdefault(browser, contact)  # the first one seen; the identity graph will merge
    touches: dict[str, list[Touch]] = {}
    if profile_of:
        events = session.execute(
            sa.select(
                EVENT.c.type,
                EVENT.c.browser_id,
                EVENT.c.session_id,
                EVENT.c.received_at,
                EVENT.c.utm_source,
                EVENT.c.utm_medium,
                EVENT.c.utm_campaign,
                EVENT.c.yclid,
                EVENT.c.gclid,
                EVENT.c.referrer,
                EVENT.c.block_id,
                EVENT.c.ec_click,
            )
            .where(
                EVENT.c.tenant_id == tenant,
                EVENT.c.type.in_(("pageview", "block_click")),
                EVENT.c.bot.is_(None),
                EVENT.c.browser_id.in_(list(profile_of)),
                EVENT.c.received_at >= touch_start,
                EVENT.c.received_at < end,
            )
            .order_by(EVENT.c.received_at)
        ).all()
        seen_sessions: set[tuple[str, str]] = set()
        for kind, browser, session_id, at, source, medium, campaign, yclid, gclid, ref, block, ec in events:
            if kind == "block_click":
                touch_kind = TouchKind.ERECEIPT_CLICK
            else:
                key = (browser, session_id or at.isoformat())
                if key in seen_sessions:
                    continue  # a session is one touch: its first page view carries the source
                seen_sessions.add(key)
                touch_kind = TouchKind.SITE_SESSION
            channel = classify_channel(
                touch_kind,
                source=source,
                medium=medium,
                yclid=yclid,
                gclid=gclid,
                referrer_host=url_host(ref),
            )
            touches.setdefault(profile_of[browser], []).append(
                Touch(
                    at=at,
                    kind=touch_kind,
                    channel=channel,
                    source=source,
                    medium=medium,
                    campaign=campaign,
                    yclid=yclid,
                    gclid=gclid,
                    block_id=block,
                    ec_click=ec,
                )
            )
    journeys = build_journeys(touches, purchases)
    missing = [
        "Граф идентичности (cloud/identity) ещё не подключён: покупатель — это контакт в чеке, браузер "
        "связан с ним, только если открыл или кликнул его электронный чек. Доля ROPO — нижняя оценка.",
        "Контрольные группы (holdout) ещё не записываются: прироста рядом с атрибуцией пока нет.",
    ]
    return RopoInputs(purchases, journeys, len(profile_of), missing)


def label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def _ropo_rows(rows: list[RopoRow], channels: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "key": label(row.key) if channels else row.key,
            "receipts": row.receipts,
            "revenue": row.revenue,
            "identified": row.identified_share,
            "ropo_receipts": row.ropo_receipts,
            "ropo_share": row.ropo_receipt_share,
            "ropo_revenue": row.ropo_revenue,
            "ropo_revenue_share": row.ropo_revenue_share,
            "ropo_revenue_share_identified": row.ropo_revenue_share_identified,
            "ropo_buyers": row.ropo_buyer_share,
        }
        for row in rows
    ]


def chosen_model(filters: Filters) -> Model:
    value = filters.get("model")
    return Model(value) if value in Model._value2member_map_ else DEFAULT_MODEL


@dataclass(frozen=True, slots=True)
class ChannelCredit:
    key: str  # the channel
    conversions: float
    revenue: int  # kopecks


@dataclass(frozen=True, slots=True)
class RopoFigures:
    """What the page shows, from either source: ROPO rows by dimension, every model's credit per channel."""

    rows: dict[Dimension, list[RopoRow]]
    credits: dict[Model, list[ChannelCredit]]  # sorted by revenue, descending
    unattributed: tuple[int, int]  # identified purchases without a touch in the lookback: count, kopecks
    linked_browsers: int | None
    notes: list[str]
    markov_note: str | None = None  # how the Markov column was estimated, when not over the period at once


def computed_figures(inputs: RopoInputs) -> RopoFigures:
    """The figures recomputed from purchases and journeys (the raw path, while nothing is attributed)."""
    attributions = compare_models(inputs.journeys)
    any_model = next(iter(attributions.values()))
    return RopoFigures(
        rows={d: ropo_report(inputs.purchases, inputs.journeys, d) for d in DIMENSIONS},
        credits={
            m: [ChannelCredit(c.key, c.conversions, c.revenue) for c in a.credits]
            for m, a in attributions.items()
        },
        unattributed=(any_model.unattributed_conversions, any_model.unattributed_revenue),
        linked_browsers=inputs.linked_browsers,
        notes=inputs.missing,
    )


def stored_figures(session: Session, view: View, filters: Filters) -> RopoFigures | None:
    """The figures summed in SQL over what the attribution job stored for the period in view
    (cloud.attribution.aggregates: no journey is read or built), or None while no day of the period has been
    attributed."""
    tenant = view.viewer.tenant_id
    scope = aggregates.Filters(
        start=filters.since,
        end=filters.until,
        store_ids=frozenset(view.ids) if view.restricted else None,
    )
    days = aggregates.day_counts(session, tenant, scope, today(filters.time_zone))
    if not days.attributed and not days.dirty:
        return None
    rows = {d: aggregates.ropo_rows(session, tenant, scope, d) for d in PARTITIONS}
    total = rows[Dimension.TOTAL][0] if rows[Dimension.TOTAL] else None
    if total is None:
        rows.update({Dimension.CHANNEL: [], Dimension.CAMPAIGN: []})
    else:
        rows.update(aggregates.touch_rows(session, tenant, scope, total))
    credits = {
        m: [ChannelCredit(c.channel, c.conversions, c.revenue) for c in channel_credits]
        for m, channel_credits in aggregates.model_credits(session, tenant, scope).items()
    }
    notes = []
    if days.missing:
        notes.append(
            f"Внимание: атрибуция посчитана не за все дни периода — нет {len(days.missing)} "
            f"{_days_word(len(days.missing))} ({_day_list(days.missing)}). Цифры ниже только за посчитанные "
            "дни и меньше настоящих; задание атрибуции досчитывает дни каждые 15 минут."
        )
    if days.dirty:
        notes.append(
            f"Ждут пересчёта дней: {days.dirty} (поздние чеки или склейка покупателей); за них показан "
            "прошлый расчёт."
        )
    notes.append(
        f"Атрибуция из заданий (cloud/attribution): посчитано дней {days.attributed}. Фильтры сегмента и "
        "канала доставки к ней не применяются."
    )
    return RopoFigures(
        rows=rows,
        credits=credits,
        unattributed=(
            (total.identified_receipts - total.ropo_receipts, total.identified_revenue - total.ropo_revenue)
            if total
            else (0, 0)
        ),
        linked_browsers=None,
        notes=notes,
        markov_note=MARKOV_PER_DAY,
    )


MARKOV_PER_DAY = (
    "Марковская модель: сумма дневных оценок (задание оценивает её по путям каждого дня; за период они "
    "складываются, а не пересчитываются заново)."
)
DIMENSIONS = (Dimension.TOTAL, Dimension.CHANNEL, Dimension.CAMPAIGN, Dimension.STORE, Dimension.REGION)
PARTITIONS = (Dimension.TOTAL, Dimension.STORE, Dimension.REGION)  # each purchase in one row


def _days_word(n: int) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return "дня"
    return "дней"


def _day_list(days: list[date]) -> str:
    shown = ", ".join(d.strftime("%d.%m") for d in days[:5])
    return shown + (f" и ещё {len(days) - 5}" if len(days) > 5 else "")


def ropo(session: Session, view: View, filters: Filters) -> Dashboard:
    figures_of = stored_figures(session, view, filters) or computed_figures(
        ropo_inputs(session, view, filters)
    )
    return dashboard(figures_of, chosen_model(filters))


def dashboard(data: RopoFigures, model: Model) -> Dashboard:
    total = data.rows[Dimension.TOTAL]
    t = total[0] if total else None
    chosen = data.credits.get(model, [])
    chosen_revenue = sum(c.revenue for c in chosen)
    credits: list[dict[str, Any]] = [
        {
            "key": label(c.key),
            "conversions": c.conversions,
            "revenue": c.revenue,
            "revenue_share": share(c.revenue, chosen_revenue),
        }
        for c in chosen
    ]
    models = [m for m in Model if m in data.credits]
    revenue_of = {m: {c.key: c.revenue for c in data.credits[m]} for m in models}
    channels = sorted({k for m in models for k in revenue_of[m]})
    compare_columns = (
        Column("key", "Канал", Kind.TEXT),
        *(Column(m.value, MODEL_LABELS[m], Kind.KOPECKS) for m in models),
    )
    compare = [{"key": k, **{m.value: revenue_of[m].get(k, 0) for m in models}} for k in channels]
    unattributed_n, unattributed_revenue = data.unattributed
    credit_note = (
        f"Без касаний в окне 30 дней: {unattributed_n} покупок на "
        f"{format_value(unattributed_revenue, Kind.KOPECKS)} (только офлайн)."
    )
    if model is Model.MARKOV and data.markov_note:
        credit_note += " " + data.markov_note
    figures = [
        Figure("Чеков в магазинах", t.receipts if t else 0, id="receipts"),
        Figure("Выручка", t.revenue if t else 0, Kind.KOPECKS, id="revenue"),
        Figure(
            "Покупатель известен",
            t.identified_share if t else None,
            Kind.SHARE,
            "доля чеков с контактом покупателя",
            id="identified",
        ),
        Figure(
            "Доля ROPO",
            t.ropo_revenue_share if t else None,
            Kind.SHARE,
            "выручка чеков с касанием онлайн за 30 дней до покупки, от всей выручки",
            id="ropo_share",
        ),
        Figure(
            "Доля ROPO среди известных",
            t.ropo_revenue_share_identified if t else None,
            Kind.SHARE,
            id="ropo_known",
        ),
        Figure(
            "Выручка ROPO",
            t.ropo_revenue if t else 0,
            Kind.KOPECKS,
            f"{format_value(t.ropo_receipt_share if t else None, Kind.SHARE)} чеков",
            id="ropo_revenue",
        ),
        Figure("Браузеров связано с покупателями", data.linked_browsers, id="browsers"),
    ]
    return Dashboard(
        slug="ropo",
        title="ROPO: онлайн → покупки в магазине",
        figures=figures,
        charts=[
            Chart(
                f"Выручка по каналам: {MODEL_LABELS[model]}",
                charts.bars(
                    [(label(c.key), c.revenue / 100) for c in chosen],
                    "Выручка по каналам",
                    lambda v: format_value(round(v * 100), Kind.KOPECKS),
                ),
            ),
        ],
        tables=[
            Table(
                "credit",
                f"Атрибуция: {MODEL_LABELS[model]}",
                CREDIT_COLUMNS,
                credits,
                default_sort="revenue",
                note=credit_note,
            ),
            Table(
                "models",
                "Модели рядом (выручка по каналам)",
                compare_columns,
                compare,
                default_sort=model.value,
                note=data.markov_note,
            ),
            Table(
                "channels",
                "ROPO по каналам",
                TOUCH_COLUMNS,
                _ropo_rows(data.rows[Dimension.CHANNEL], channels=True),
                default_sort="ropo_revenue",
            ),
            Table(
                "campaigns",
                "ROPO по кампаниям",
                TOUCH_COLUMNS,
                _ropo_rows(data.rows[Dimension.CAMPAIGN]),
                default_sort="ropo_revenue",
                note="Строка считает покупки, перед которыми было касание этого канала (кампании); у одной "
                "покупки их может быть несколько, поэтому строки не складываются в итог.",
            ),
            Table(
                "stores",
                "ROPO по магазинам",
                ROPO_COLUMNS,
                _ropo_rows(data.rows[Dimension.STORE]),
                default_sort="revenue",
            ),
            Table(
                "regions",
                "ROPO по регионам",
                ROPO_COLUMNS,
                _ropo_rows(data.rows[Dimension.REGION]),
                default_sort="revenue",
            ),
        ],
        notes=data.notes,
    )
