"""Head office's figures of the e-receipt page for a period and stores: fetches, opens, open rate, clicks and
CTR per block (and per segment), counted as docs/pages-events.md says.

- an open is a receipt with at least one person's `receipt_open` (however often it was reloaded);
- a click is a (receipt, block) with at least one person's `block_click`; a block's CTR is its clicks over
  its views (receipts whose person scrolled the block into view);
- a person is an event stored with `bot IS NULL` from a browser that never followed a honeypot link (a
  scanner flagged later is taken out of the earlier figures too).

Sign-ups, enrichment answers, promo codes and holdout lift are other capabilities' figures: they add
themselves with `add_figures` and appear under `more`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cloud.accounts.models import Store
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.tracking.events import EventType
from cloud.tracking.models import TrackingEvent
from cloud.tracking.page_events import HONEYPOT_BLOCK

E = TrackingEvent.__table__  # type: ignore[attr-defined]
R = ReceiptRow.__table__  # type: ignore[attr-defined]
D = DeliveryRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Scope:
    tenant_id: int
    since: datetime
    until: datetime
    store_ids: frozenset[int] | None  # None: every store of the tenant


Figures = Callable[[Session, Scope], dict[str, Any]]
_MORE: dict[str, Figures] = {}


def add_figures(name: str, figures: Figures) -> None:
    """Another capability's figures for the same scope (sign-ups, enrichment, promo codes, holdout lift)."""
    _MORE[name] = figures


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def page_summary(session: Session, scope: Scope) -> dict[str, Any]:
    flagged = sa.select(E.c.browser_id).where(
        E.c.tenant_id == scope.tenant_id, E.c.block_id == HONEYPOT_BLOCK, E.c.browser_id.is_not(None)
    )
    person = sa.and_(E.c.bot.is_(None), sa.or_(E.c.browser_id.is_(None), E.c.browser_id.not_in(flagged)))
    joined = E.join(R, R.c.id == E.c.receipt_id)
    where = [E.c.tenant_id == scope.tenant_id, E.c.received_at >= scope.since, E.c.received_at < scope.until]
    if scope.store_ids is not None:
        where.append(R.c.store_id.in_(sorted(scope.store_ids)))
    is_bot = sa.func.sum(sa.case((E.c.bot.is_not(None), 1), else_=0))

    def of(kind: EventType, *more: Any) -> Any:
        return sa.and_(*where, E.c.type == kind.value, *more)

    stores: dict[int, dict[str, Any]] = {}

    def store(sid: int) -> dict[str, Any]:
        return stores.setdefault(sid, {"store_id": sid, "fetches": 0, "opens": 0, "clicks": 0})

    fetches = {"total": 0, "by_bots": 0, "receipts": 0}
    for sid, n, bots, receipts in session.execute(
        sa.select(R.c.store_id, sa.func.count(), is_bot, sa.func.count(sa.distinct(E.c.receipt_id)))
        .select_from(joined)
        .where(of(EventType.RECEIPT_FETCH))
        .group_by(R.c.store_id)
    ):
        store(sid)["fetches"] = n
        fetches["total"] += n
        fetches["by_bots"] += int(bots or 0)
        fetches["receipts"] += receipts
    opens = 0
    for sid, n in session.execute(
        sa.select(R.c.store_id, sa.func.count(sa.distinct(E.c.receipt_id)))
        .select_from(joined)
        .where(of(EventType.RECEIPT_OPEN, person))
        .group_by(R.c.store_id)
    ):
        store(sid)["opens"] = n
        opens += n
    open_events, bot_opens = session.execute(
        sa.select(sa.func.count(), is_bot).select_from(joined).where(of(EventType.RECEIPT_OPEN))
    ).one()

    segment = E.c.properties["segment"].as_string()
    per_block: dict[str, dict[str, Any]] = {}
    for kind, name in ((EventType.BLOCK_VIEW, "views"), (EventType.BLOCK_CLICK, "clicks")):
        counted = of(kind, person, E.c.block_id != HONEYPOT_BLOCK)
        for block, n in session.execute(
            sa.select(E.c.block_id, sa.func.count(sa.distinct(E.c.receipt_id)))
            .select_from(joined)
            .where(counted)
            .group_by(E.c.block_id)
        ):
            b = per_block.setdefault(block, {"block_id": block, "views": 0, "clicks": 0, "segments": {}})
            b[name] = n
        for block, seg, n in session.execute(
            sa.select(E.c.block_id, segment, sa.func.count(sa.distinct(E.c.receipt_id)))
            .select_from(joined)
            .where(counted, segment.is_not(None))
            .group_by(E.c.block_id, segment)
        ):
            b = per_block.setdefault(block, {"block_id": block, "views": 0, "clicks": 0, "segments": {}})
            s = b["segments"].setdefault(seg, {"segment": seg, "views": 0, "clicks": 0})
            s[name] = n
    blocks = []
    for b in sorted(per_block.values(), key=lambda b: str(b["block_id"])):
        segments = sorted(b.pop("segments").values(), key=lambda s: str(s["segment"]))
        for s in segments:
            s["ctr"] = _rate(s["clicks"], s["views"])
        blocks.append(b | {"ctr": _rate(b["clicks"], b["views"]), "segments": segments})

    clicked = (
        sa.select(R.c.store_id, E.c.receipt_id, E.c.block_id)
        .select_from(joined)
        .where(of(EventType.BLOCK_CLICK, person, E.c.block_id != HONEYPOT_BLOCK))
        .distinct()
        .subquery()
    )
    clicks, clicking = 0, 0
    for sid, n, receipts in session.execute(
        sa.select(
            clicked.c.store_id, sa.func.count(), sa.func.count(sa.distinct(clicked.c.receipt_id))
        ).group_by(clicked.c.store_id)
    ):
        store(sid)["clicks"] = n
        clicks += n
        clicking += receipts
    click_events, bot_clicks, honeypot = session.execute(
        sa.select(
            sa.func.count(),
            is_bot,
            sa.func.sum(sa.case((E.c.block_id == HONEYPOT_BLOCK, 1), else_=0)),
        )
        .select_from(joined)
        .where(of(EventType.BLOCK_CLICK))
    ).one()

    sent_where = [
        D.c.tenant_id == scope.tenant_id,
        D.c.first_accepted_at >= scope.since,
        D.c.first_accepted_at < scope.until,
    ]
    if scope.store_ids is not None:
        sent_where.append(D.c.store_id.in_(sorted(scope.store_ids)))
    sent = session.execute(sa.select(sa.func.count()).where(*sent_where)).scalar_one()
    views = sum(b["views"] for b in blocks)
    names = dict(
        session.execute(
            select(col(Store.id), col(Store.name)).where(col(Store.tenant_id) == scope.tenant_id)
        ).all()
    )
    return {
        "since": scope.since,
        "until": scope.until,
        "store_ids": sorted(scope.store_ids) if scope.store_ids is not None else None,
        "fetches": fetches,
        "sent": sent,
        "opens": opens,
        "open_events": open_events,
        "bot_opens": int(bot_opens or 0),
        "open_rate": _rate(opens, sent),
        "open_rate_of_fetched": _rate(opens, fetches["receipts"]),
        "clicks": clicks,
        "clicking_receipts": clicking,
        "click_events": click_events,
        "bot_clicks": int(bot_clicks or 0),
        "honeypot_hits": int(honeypot or 0),
        "ctr": _rate(clicks, views),
        "click_to_open_rate": _rate(clicking, opens),
        "blocks": blocks,
        "stores": [s | {"store": names.get(s["store_id"], "")} for _sid, s in sorted(stores.items())],
        "more": {name: figures(session, scope) for name, figures in _MORE.items()},
    }
