"""The collector's domain: a browser's batch → validated events with re-keyed identifiers. No I/O here.

The wire format is what `static/tracker.js` sends (`{"v": 1, "events": [...]}`, docs/tracking.md). Each event
is validated alone, so a partly bad batch stores its good events and names the fields of the bad ones
(`events[3].ids.email: ...`). Identifiers arrive as the plain SHA-256 the browser computed (it holds no
secret) and leave as identity keys: HMAC(identity key, SHA-256 hex), the same key a receipt with that
contact gets (`IdentityKeys.identity`). The site's own user id is keyed per tenant.
"""

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.events import (
    MAX_TOKEN,
    MAX_URL,
    UTM_KEYS,
    EventType,
    Identifier,
    IdentifierKind,
    TrackedEvent,
)

MAX_EVENTS = 500
MAX_PROPS = 20
# What the browser may say happened; the e-receipt page's own types (receipt_open, block_click, ...) are
# recorded by the page, never accepted from a retailer's site.
SITE_TYPES = ("pageview", "identify", "subscribe", "login", "order", "signup")
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_ID = re.compile(ID_PATTERN)
SHA256_HEX = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Token = Annotated[str, StringConstraints(max_length=MAX_TOKEN)]
# Clocks of browsers are wrong by minutes or years: a client time further than this from ours is dropped.
CLIENT_SKEW = timedelta(days=2)


def _cut(limit: int) -> Any:
    def cut(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return cut


class WireIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: SHA256_HEX | None = None
    email: SHA256_HEX | None = None
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN)] | None = None


class WireEvent(BaseModel):
    """One event as the tracker sends it (short names: it is the browser's upload)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    type: Literal["pageview", "identify", "subscribe", "login", "order", "signup"]
    bid: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    sid: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    at: datetime | None = None
    url: str | None = None
    ref: str | None = None
    utm: dict[Literal["source", "medium", "campaign", "term", "content"], str] = Field(default_factory=dict)
    yclid: Token | None = None
    gclid: Token | None = None
    ec_click: Token | None = None
    ym: Annotated[str, StringConstraints(max_length=64)] | None = None
    ids: WireIds = Field(default_factory=WireIds)
    props: dict[Annotated[str, StringConstraints(max_length=64)], str | int | float | bool] = Field(
        default_factory=dict, max_length=MAX_PROPS
    )

    _url = field_validator("url", "ref", mode="before")(_cut(MAX_URL))

    @field_validator("utm", mode="after")
    @classmethod
    def _utm_cut(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: v[:MAX_TOKEN] for k, v in value.items() if v}

    @field_validator("props", mode="after")
    @classmethod
    def _props_cut(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k: v[:MAX_TOKEN] if isinstance(v, str) else v for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    event_id: str | None
    field: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.event_id, "field": self.field, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Parsed:
    events: list[WireEvent]
    rejected: list[Rejected]


class BadBatch(ValueError):
    """The body as a whole is not a batch (not JSON, no `events` list, too many events)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


_NUL_ESCAPE = b"\\u0000"


def parse_batch(body: bytes) -> Parsed:
    if _NUL_ESCAPE in body:
        # PostgreSQL's text refuses NUL: a page's title or URL with one would fail its batch for good (the
        # browser would retry it forever), so it becomes U+FFFD, the replacement character, like bad UTF-8.
        body = body.replace(_NUL_ESCAPE, b"\\ufffd")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBatch("body", "not JSON") from exc
    if not isinstance(doc, dict):
        raise BadBatch("body", 'must be an object {"v": 1, "events": [...]}')
    raw = doc.get("events")
    if not isinstance(raw, list):
        raise BadBatch("events", "must be a list of events")
    if len(raw) > MAX_EVENTS:
        raise BadBatch("events", f"at most {MAX_EVENTS} events in one batch")
    good: list[WireEvent] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(raw):
        try:
            good.append(WireEvent.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            event_id = item.get("id") if isinstance(item, dict) else None
            rejected.append(
                Rejected(
                    index,
                    str(event_id)[:64] if event_id is not None else None,
                    f"events[{index}]" + (f".{where}" if where else ""),
                    error["msg"],
                )
            )
    return Parsed(good, rejected)


def user_id_key(keys: IdentityKeys, tenant_id: int, user_id: str) -> str:
    """A site's own user id, keyed and scoped to its tenant (two shops' user 42 are different people)."""
    return keys.hash(f"site-user\x00{tenant_id}\x00{user_id}")


def to_events(
    wire: Sequence[WireEvent],
    *,
    tenant_id: int,
    keys: IdentityKeys,
    click_ids: ClickIds,
    received_at: datetime,
    browser_id: str | None = None,
) -> list[TrackedEvent]:
    """The stored form. `browser_id`, when given (the collector's own HttpOnly cookie behind a first-party
    proxy), wins over what the script said. A click id that is not ours or expired is dropped."""
    out: list[TrackedEvent] = []
    for w in wire:
        ids: list[Identifier] = []
        if w.ids.phone:
            ids.append(Identifier(IdentifierKind.PHONE, keys.identity_of_sha256(w.ids.phone)))
        if w.ids.email:
            ids.append(Identifier(IdentifierKind.EMAIL, keys.identity_of_sha256(w.ids.email)))
        if w.ids.user_id:
            ids.append(Identifier(IdentifierKind.USER_ID, user_id_key(keys, tenant_id, w.ids.user_id)))
        client_at = w.at
        if client_at is not None and (client_at.tzinfo is None or abs(client_at - received_at) > CLIENT_SKEW):
            client_at = None
        ec_click = w.ec_click if w.ec_click and click_ids.read(w.ec_click, received_at) else None
        out.append(
            TrackedEvent(
                event_id=str(w.id),
                tenant_id=tenant_id,
                type=EventType(w.type),
                received_at=received_at,
                client_at=client_at,
                browser_id=browser_id or w.bid,
                session_id=w.sid,
                url=w.url or None,
                referrer=w.ref or None,
                utm={k: v for k, v in w.utm.items() if k in UTM_KEYS},
                yclid=w.yclid or None,
                gclid=w.gclid or None,
                ec_click=ec_click,
                ym_client_id=w.ym or None,
                identifiers=tuple(ids),
                properties=dict(w.props),
            )
        )
    return out


def links_identity(events: Sequence[TrackedEvent]) -> bool:
    """Whether identity has anything to link in these events: hashed identifiers or a click id."""
    return any(e.identifiers or e.ec_click for e in events)


def new_browser_id() -> str:
    return str(uuid.uuid4())


def valid_browser_id(value: str | None) -> str | None:
    return value if value and _ID.match(value) else None


class SourceLimiter:
    """Events per source (client address) and second, as a token bucket, in this process's memory.

    A person's browser sends a few events a page; a datacenter burst sends thousands. Addresses are held
    only as bucket keys for a few minutes and never stored or logged. Per process: with N workers a source
    gets up to N× the rate, which still stops bursts.
    """

    def __init__(
        self, rate_per_s: float = 20.0, burst: float = 400.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = clock()

    def take(self, source: str, count: int) -> float:
        """Take `count` tokens; 0.0 when allowed, else the seconds to wait (nothing is taken then)."""
        now = self._clock()
        with self._lock:
            if now - self._last_sweep > 60:
                idle = self.burst / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < idle}
                self._last_sweep = now
            tokens, at = self._buckets.get(source, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < count:
                self._buckets[source] = (tokens, now)
                return (count - tokens) / self.rate
            self._buckets[source] = (tokens - count, now)
            return 0.0


def source_of(client_host: str | None, headers: Mapping[str, str]) -> str:
    """The rate-limit key: the peer, plus the last X-Forwarded-For hop when the peer is a proxy (a
    retailer's proxy appends the real visitor; earlier hops are whatever the visitor made up)."""
    forwarded = headers.get("x-forwarded-for", "")
    last = forwarded.rsplit(",", 1)[-1].strip()[:64] if forwarded else ""
    return f"{client_host or '-'}|{last}"
