"""The page side of tracking: who the visitor is (the `ec_bid` cookie), a fetch recorded with the page, the
script's events, and clicks through the signed redirect. Event logic lives in `cloud.tracking`; this module
ties it to requests, to delivery's "opened" and to identity (EventsTracked)."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlmodel import Session

from cloud.delivery import service as delivery
from cloud.events import EventsTracked, MessageBus
from cloud.ingest.models import ReceiptRow
from cloud.tracking.click_ids import ClickIds, ClickRef
from cloud.tracking.events import EventType, TrackedEvent
from cloud.tracking.page_events import (
    BROWSER_COOKIE,
    BROWSER_COOKIE_MAX_AGE,
    HONEYPOT_BLOCK,
    MAX_EVENTS_PER_POST,
    PageView,
    ViewTokens,
    new_browser_id,
    parse_client_events,
    valid_browser_id,
)
from cloud.tracking.page_store import Visitor, fetch_event, links_identity, record_click, record_page_events
from cloud.tracking.store import record_events

EVENTS_PATH = "/r/e"


class BadPageEvents(ValueError):
    """The script's POST is not one this cloud's page sent: a forged or stale token, or malformed events."""


def visitor_of(request: Request, issue: bool = True) -> tuple[Visitor, bool]:
    """The visitor and whether its browser id is new (the page's response must set the cookie). Without
    `issue`, a request without a valid cookie has no browser id."""
    known = valid_browser_id(request.cookies.get(BROWSER_COOKIE))
    visitor = Visitor(
        user_agent=request.headers.get("user-agent", ""),
        headers={k.lower(): v for k, v in request.headers.items() if k.lower() in _JUDGED},
        browser_id=known or (new_browser_id() if issue else None),
    )
    return visitor, known is None


# The headers the bot rules read (cloud.tracking.bots: client hints, scanners' marks, forwarded agents).
_JUDGED = (
    "sec-purpose",
    "purpose",
    "x-purpose",
    "sec-ch-ua",
    "x-scanner",
    "x-original-user-agent",
    "x-device-user-agent",
    "x-operamini-phone-ua",
    "device-stock-ua",
)


def set_browser_cookie(request: Request, response: Response, visitor: Visitor) -> None:
    """The first-party browser id: random, two years, never readable by scripts."""
    assert visitor.browser_id is not None
    response.set_cookie(
        BROWSER_COOKIE,
        visitor.browser_id,
        max_age=BROWSER_COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def page_fetched(
    tokens: ViewTokens,
    click_ids: ClickIds,
    receipt_id: int,
    tenant_id: int,
    visitor: Visitor,
    now: datetime,
    via: str,
    referrer: str | None,
    page_url: str,
) -> tuple[TrackedEvent, dict[str, str]]:
    """The fetch event of a page about to be served (`record_fetch` or the collector's writer stores it),
    and what the page needs for its script: the view token, where to POST, and the honeypot link (the same
    redirect shape as every outbound link)."""
    fetch = fetch_event(
        tenant_id=tenant_id,
        receipt_id=receipt_id,
        visitor=visitor,
        now=now,
        via=via,
        referrer=referrer,
    )
    assert visitor.browser_id is not None
    view = PageView(receipt_id, tenant_id, now, fetch.event_id, visitor.browser_id)
    return fetch, {
        "view_token": tokens.issue(view),
        "events_url": EVENTS_PATH,
        "honeypot_url": click_ids.outbound_path(receipt_id, HONEYPOT_BLOCK, page_url, now),
    }


def record_fetch(session: Session, fetch: TrackedEvent) -> None:
    """The fetch in the page's own transaction: where there is no collector's writer (SQLite, one process).
    On PostgreSQL the page hands it to the writer instead (cloud.pages.router)."""
    record_events(session, [fetch])


def page_events(
    session: Session,
    bus: MessageBus,
    tokens: ViewTokens,
    token: str,
    items: Sequence[Mapping[str, Any]],
    visitor: Visitor,
    now: datetime,
) -> list[TrackedEvent]:
    """The script's POST: verified, recorded, and a person's first open of the receipt is delivery's
    "opened". Commits."""
    view = tokens.read(token, now)
    if view is None:
        raise BadPageEvents("unknown or expired page view token")
    if len(items) > MAX_EVENTS_PER_POST:
        raise BadPageEvents(f"at most {MAX_EVENTS_PER_POST} events per request")
    try:
        events = parse_client_events(items)
    except ValueError as exc:
        raise BadPageEvents(str(exc)) from exc
    fresh = record_page_events(session, view, events, visitor, now)
    _publish(session, bus, view.tenant_id, fresh)
    session.commit()
    if any(e.type is EventType.RECEIPT_OPEN and e.bot is None for e in fresh):
        delivery.page_opened(session, view.receipt_id, now)
    return fresh


def clicked(
    session: Session,
    bus: MessageBus,
    click_ids: ClickIds,
    click_id: str,
    target: str,
    signature: str,
    visitor: Visitor,
    now: datetime,
) -> tuple[ClickRef, TrackedEvent] | None:
    """A followed outbound link: None unless this cloud signed it (no open redirect) and the click id is
    ours and fresh. Records the click (a bot's with its reason) and commits; changes nothing else."""
    if not target.startswith(("https://", "http://")) or not click_ids.verify_target(
        click_id, target, signature
    ):
        return None
    ref = click_ids.read(click_id, now)
    if ref is None:
        return None
    receipt = session.get(ReceiptRow, ref.receipt_id)
    if receipt is None:
        return None
    event = record_click(
        session,
        tenant_id=receipt.tenant_id,
        receipt_id=ref.receipt_id,
        block_id=ref.block_id,
        click_id=click_id,
        visitor=visitor,
        now=now,
    )
    _publish(session, bus, receipt.tenant_id, [event])
    session.commit()
    return ref, event


def _publish(session: Session, bus: MessageBus, tenant_id: int, events: Sequence[TrackedEvent]) -> None:
    linked = tuple(e.event_id for e in events if links_identity(e))
    if linked:
        bus.publish(session, EventsTracked(tenant_id, linked))
