"""What counts on an e-receipt page, as values and rules without I/O (REFERENCE, "Opens, clicks and bots").

- A **fetch** is any GET of the page: a person's browser, a messenger's link preview, a mail scanner. All
  are recorded; none is an open.
- An **open** is the page's script saying a person looks at it: the page was visible for `DWELL_MS`, then
  the script POSTs `receipt_open` with the page view's signed token (`ViewTokens`), so nobody can forge one
  without fetching the page first. It does not count when the user agent is a known bot, when the POST came
  sooner after the fetch than a visible page can have been looked at (`MIN_FETCH_TO_OPEN_MS`), or when the
  browser (or this page's token with this user agent) followed the honeypot link.
- A **click** goes through the signed redirect `/c/{click_id}`; it counts only from a browser that has a
  person's open of that receipt before it, and never from a bot or a honeypot follower.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.tracking.bots import classify
from cloud.tracking.events import EventType

DWELL_MS = 1000  # the script reports an open after the page was visible this long
# An open POST sooner than this after its fetch was not sent by a person looking at a visible page: the
# script waits DWELL_MS, so only a script that skips the wait (a scanner replaying it) is this fast.
MIN_FETCH_TO_OPEN_MS = 800
VIEW_VALID_FOR = timedelta(hours=24)  # a tab left open overnight still reports its block views
MAX_EVENTS_PER_POST = 50
HONEYPOT_BLOCK = "_hp"  # the block id of the link no person sees
HONEYPOT_BURST = timedelta(seconds=10)  # a cookie-less scanner's requests around its honeypot hit
BROWSER_COOKIE = "ec_bid"
BROWSER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
CLIENT_TYPES = frozenset({EventType.RECEIPT_OPEN, EventType.BLOCK_VIEW})
_BID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_HEAD = struct.Struct(">QIQ16s16s")  # receipt id, tenant id, fetched at (ms since epoch), view id, browser id
_MAC = 16


# -- who fetched: the one place the bot rules are asked ----------------------------------------------------


def bot_reason(user_agent: str, headers: Mapping[str, str]) -> str | None:
    """Why this request is no person ("link preview: telegram", "headless", "scanner", "crawler: …",
    "prefetch"), None when it may be one. The one place the page asks: `bots.classify` holds the lists."""
    reason = classify(user_agent, headers)
    if reason is None:
        purpose = " ".join(headers.get(h, "") for h in ("sec-purpose", "purpose", "x-purpose")).lower()
        if "prefetch" in purpose or "preview" in purpose:
            reason = "prefetch"
    return reason[:64] if reason else None


def ua_key(user_agent: str) -> str:
    """A short digest of the user agent: the honeypot flags "this page's token with this user agent"."""
    return hashlib.sha256(user_agent.encode(errors="replace")).hexdigest()[:16]


# -- the browser id cookie ---------------------------------------------------------------------------------


def new_browser_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters, 128 random bits


def valid_browser_id(value: str | None) -> str | None:
    return value if value and _BID.match(value) else None


# -- the page view's token: what the script sends its events with ------------------------------------------


@dataclass(frozen=True, slots=True)
class PageView:
    receipt_id: int
    tenant_id: int
    fetched_at: datetime
    view_id: str  # the receipt_fetch event's id
    browser_id: str  # the ec_bid the page was served with


class ViewTokens:
    """Signs page views; the first key signs, every key verifies (identity-key rotation)."""

    def __init__(self, secrets_: Iterable[bytes]) -> None:
        self._keys = [hashlib.sha256(b"echeck page view\x00" + s).digest() for s in secrets_]
        if not self._keys:
            raise ValueError("view tokens need at least one key")

    def issue(self, view: PageView) -> str:
        ms = int(view.fetched_at.astimezone(UTC).timestamp() * 1000)
        bid = base64.urlsafe_b64decode(view.browser_id + "==")
        body = _HEAD.pack(view.receipt_id, view.tenant_id, ms, uuid.UUID(view.view_id).bytes, bid)
        return base64.urlsafe_b64encode(body + self._mac(self._keys[0], body)).rstrip(b"=").decode()

    def read(self, token: str, now: datetime) -> PageView | None:
        """The page view a token names, or None when it is not ours, altered, or older than a day."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _HEAD.size + _MAC:
            return None
        body, mac = raw[: _HEAD.size], raw[_HEAD.size :]
        if not any(hmac.compare_digest(self._mac(k, body), mac) for k in self._keys):
            return None
        receipt_id, tenant_id, ms, view, bid = _HEAD.unpack(body)
        fetched = datetime.fromtimestamp(ms / 1000, UTC)
        if not fetched - timedelta(minutes=5) <= now <= fetched + VIEW_VALID_FOR:
            return None
        browser = base64.urlsafe_b64encode(bid).rstrip(b"=").decode()
        return PageView(receipt_id, tenant_id, fetched, str(uuid.UUID(bytes=view)), browser)

    @staticmethod
    def _mac(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).digest()[:_MAC]


# -- what the script sends -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientEvent:
    event_id: str
    type: EventType
    block_id: str | None
    segment: str | None
    client_at: datetime | None


def parse_client_events(items: Iterable[Mapping[str, Any]]) -> list[ClientEvent]:
    """The script's events, validated: a uuid, an open or a block view (with its block id), an optional
    segment and client time. Anything else raises ValueError (the POST gets 422)."""
    out: list[ClientEvent] = []
    for item in items:
        kind = EventType(str(item.get("type")))
        if kind not in CLIENT_TYPES:
            raise ValueError(f"a page may only report {sorted(CLIENT_TYPES)}")
        event_id = str(uuid.UUID(str(item.get("id"))))
        block = item.get("block")
        segment = item.get("segment")
        if kind is EventType.BLOCK_VIEW and not (isinstance(block, str) and _ID.match(block)):
            raise ValueError("a block view needs its block id")
        if segment is not None and not (isinstance(segment, str) and _ID.match(segment)):
            raise ValueError("a segment is an id of at most 64 characters")
        at = item.get("at")
        client_at = None
        if isinstance(at, int | float) and 0 < at < 2**45:
            client_at = datetime.fromtimestamp(at / 1000, UTC)
        out.append(
            ClientEvent(
                event_id,
                kind,
                block if kind is EventType.BLOCK_VIEW else None,
                segment,
                client_at,
            )
        )
    return out


def timing_reason(view: PageView, now: datetime) -> str | None:
    """An open (or block view) that came sooner after its fetch than a person can have looked."""
    if now - view.fetched_at < timedelta(milliseconds=MIN_FETCH_TO_OPEN_MS):
        return "timing"
    return None
