"""What an event is, as a value: the DESIGN contract between the e-receipt page, the tracker and identity.

An event names where it happened (tenant, browser, session, receipt, block), where the visitor came from
(utm, referrer, click ids) and, for identify/order/subscribe, the keyed hashes of the identifiers the visitor
gave. It never holds a raw contact or a raw IP address.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventType(StrEnum):
    PAGEVIEW = "pageview"
    RECEIPT_FETCH = "receipt_fetch"  # the e-receipt page was fetched: by a person or not, nobody knows yet
    RECEIPT_OPEN = "receipt_open"  # the page's script said a person looks at it
    BLOCK_VIEW = "block_view"
    BLOCK_CLICK = "block_click"
    IDENTIFY = "identify"
    SUBSCRIBE = "subscribe"
    LOGIN = "login"
    ORDER = "order"
    SIGNUP = "signup"
    PROMO_REDEEM = "promo_redeem"


class IdentifierKind(StrEnum):
    PHONE = "phone"  # keyed hash of the normalized phone
    EMAIL = "email"  # keyed hash of the normalized e-mail
    USER_ID = "user_id"  # the retailer site's own user id (hashed by the collector)
    CARD = "card"  # a loyalty card number (hashed by the collector)


UTM_KEYS = ("source", "medium", "campaign", "term", "content")
# Column widths: what the collector truncates to and the table holds.
MAX_URL = 2000
MAX_TOKEN = 200


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: IdentifierKind
    hash: str  # lowercase hex HMAC-SHA256: never a raw value

    def __post_init__(self) -> None:
        if len(self.hash) != 64 or any(c not in "0123456789abcdef" for c in self.hash):
            raise ValueError(f"{self.kind} identifier must be a 64-character lowercase hex hash")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedEvent:
    event_id: str  # a uuid made where the event happened: the dedup key
    tenant_id: int
    type: EventType
    received_at: datetime  # the server's clock
    client_at: datetime | None = None  # the browser's clock, as it said
    browser_id: str | None = None  # the `ec_bid` cookie of the origin that served the page
    session_id: str | None = None
    url: str | None = None
    referrer: str | None = None
    utm: Mapping[str, str] = field(default_factory=dict)
    yclid: str | None = None
    gclid: str | None = None
    ec_click: str | None = None
    ym_client_id: str | None = None
    receipt_id: int | None = None
    block_id: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    properties: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    bot: str | None = None  # why this was no person (user agent rule, honeypot, timing); None: a person

    def __post_init__(self) -> None:
        try:
            canonical = str(uuid.UUID(self.event_id))
        except ValueError as exc:
            raise ValueError("event_id must be a uuid") from exc
        object.__setattr__(self, "event_id", canonical)
        if self.received_at.tzinfo is None or (self.client_at is not None and self.client_at.tzinfo is None):
            raise ValueError("event times must be timezone-aware")
        unknown = set(self.utm) - set(UTM_KEYS)
        if unknown:
            raise ValueError(f"unknown utm keys: {sorted(unknown)}")


def new_event_id() -> str:
    return str(uuid.uuid4())
