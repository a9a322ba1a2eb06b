"""Recording what happens on an e-receipt page: fetches, the script's opens and block views, clicks.

Every event is kept (append-only, deduplicated by id); whether it counts is decided when it arrives and
stored on it as `bot` (None: a person), so reports count `bot IS NULL` and honeypot followers. Nothing here
commits: the caller's transaction holds the event with whatever else the request did.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cloud.tracking.events import MAX_URL, EventType, TrackedEvent, new_event_id
from cloud.tracking.models import TrackingEvent
from cloud.tracking.page_events import (
    HONEYPOT_BLOCK,
    HONEYPOT_BURST,
    ClientEvent,
    PageView,
    bot_reason,
    timing_reason,
    ua_key,
)
from cloud.tracking.store import record_events, to_event


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who sent a request, as far as the page can tell (never the IP address)."""

    user_agent: str
    headers: Mapping[str, str]
    browser_id: str | None

    @property
    def ua(self) -> str:
        return ua_key(self.user_agent)


def fetch_event(
    *, tenant_id: int, receipt_id: int, visitor: Visitor, now: datetime, via: str, referrer: str | None
) -> TrackedEvent:
    """A fetch of the page (its id is the page view's id). Only the user agent is judged here: a fetch is
    on the hot path and counts as nothing but "fetched" anyway."""
    return TrackedEvent(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        type=EventType.RECEIPT_FETCH,
        received_at=now,
        browser_id=visitor.browser_id,
        referrer=referrer[:MAX_URL] if referrer else None,
        receipt_id=receipt_id,
        properties={"via": via, "ua": visitor.ua},
        bot=bot_reason(visitor.user_agent, visitor.headers),
    )


def honeypot_followed(session: Session, receipt_id: int, visitor: Visitor, now: datetime) -> bool:
    """This browser followed a honeypot link (ever, anywhere), or this receipt's page was followed with this
    user agent in the same burst (±10 s: a scanner without cookies; a person with the same phone model
    later is not one)."""
    whose = [col(TrackingEvent.receipt_id) == receipt_id]
    if visitor.browser_id is not None:
        whose.append(col(TrackingEvent.browser_id) == visitor.browser_id)
    rows = session.exec(
        select(
            TrackingEvent.browser_id,
            TrackingEvent.receipt_id,
            TrackingEvent.properties,
            TrackingEvent.received_at,
        ).where(
            TrackingEvent.type == EventType.BLOCK_CLICK.value,
            TrackingEvent.block_id == HONEYPOT_BLOCK,
            sa.or_(*whose),
        )
    ).all()
    ua = visitor.ua
    for browser_id, rid, properties, at in rows:
        if visitor.browser_id is not None and browser_id == visitor.browser_id:
            return True
        same_page = rid == receipt_id and (properties or {}).get("ua") == ua
        if same_page and abs(now - at) <= HONEYPOT_BURST:
            return True
    return False


def record_page_events(
    session: Session, view: PageView, events: Sequence[ClientEvent], visitor: Visitor, now: datetime
) -> list[TrackedEvent]:
    """The script's opens and block views of one page view; returns the ones not seen before."""
    reason = (
        bot_reason(visitor.user_agent, visitor.headers)
        or timing_reason(view, now)
        or ("honeypot" if honeypot_followed(session, view.receipt_id, visitor, now) else None)
    )
    tracked = [
        TrackedEvent(
            event_id=e.event_id,
            tenant_id=view.tenant_id,
            type=e.type,
            received_at=now,
            client_at=e.client_at,
            browser_id=visitor.browser_id or view.browser_id,
            receipt_id=view.receipt_id,
            block_id=e.block_id,
            properties={"view": view.view_id, "ua": visitor.ua}
            | ({"segment": e.segment} if e.segment else {}),
            bot=reason,
        )
        for e in events
    ]
    return record_events(session, tracked)


def person_opened(session: Session, receipt_id: int, browser_id: str | None = None) -> bool:
    """A person's open of this receipt (from this browser, when given) is on record."""
    query = select(TrackingEvent.event_id).where(
        TrackingEvent.receipt_id == receipt_id,
        TrackingEvent.type == EventType.RECEIPT_OPEN.value,
        col(TrackingEvent.bot).is_(None),
    )
    if browser_id is not None:
        query = query.where(TrackingEvent.browser_id == browser_id)
    return session.exec(query.limit(1)).first() is not None


def _segment_seen(session: Session, receipt_id: int, browser_id: str, block_id: str) -> str | None:
    """The segment this browser was shown the block in (its latest block view), for the click's CTR."""
    rows = session.exec(
        select(TrackingEvent)
        .where(
            TrackingEvent.receipt_id == receipt_id,
            TrackingEvent.type == EventType.BLOCK_VIEW.value,
            TrackingEvent.browser_id == browser_id,
            TrackingEvent.block_id == block_id,
        )
        .order_by(col(TrackingEvent.received_at).desc())
        .limit(1)
    ).all()
    segment = to_event(rows[0]).properties.get("segment") if rows else None
    return str(segment) if segment else None


def record_click(
    session: Session,
    *,
    tenant_id: int,
    receipt_id: int,
    block_id: str,
    click_id: str,
    visitor: Visitor,
    now: datetime,
) -> TrackedEvent:
    """A followed redirect link. It counts (bot None) only from a browser with a person's open of this
    receipt before it, and never from a bot's user agent or a honeypot follower."""
    reason: str | None
    if block_id == HONEYPOT_BLOCK:
        reason = "honeypot"
    else:
        reason = bot_reason(visitor.user_agent, visitor.headers)
        if reason is None and honeypot_followed(session, receipt_id, visitor, now):
            reason = "honeypot"
        if reason is None and visitor.browser_id is None:
            reason = "no browser id"  # no cookie: nothing ties it to a person's open
        if reason is None and not person_opened(session, receipt_id, visitor.browser_id):
            reason = "no open before"
    segment = (
        _segment_seen(session, receipt_id, visitor.browser_id, block_id)
        if reason is None and visitor.browser_id
        else None
    )
    event = TrackedEvent(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        type=EventType.BLOCK_CLICK,
        received_at=now,
        browser_id=visitor.browser_id,
        ec_click=click_id,
        receipt_id=receipt_id,
        block_id=block_id,
        properties={"ua": visitor.ua} | ({"segment": segment} if segment else {}),
        bot=reason,
    )
    record_events(session, [event])
    return event


def links_identity(event: TrackedEvent) -> bool:
    """What identity links (DESIGN, EventsTracked): a person's open, block view or click with a browser id
    (a bot's browser is nobody's)."""
    kinds = (EventType.RECEIPT_OPEN, EventType.BLOCK_VIEW, EventType.BLOCK_CLICK)
    return event.type in kinds and event.browser_id is not None and event.bot is None
