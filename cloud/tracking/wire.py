"""The tracker's upload as values: a browser's batch → checked events, each bad one named. No I/O here.

The wire format is what `static/tracker.js` sends (`{"v": 1, "events": [...]}`, docs/tracking.md). Checked by
hand, not by a pydantic model: this runs for every event the collector takes, and a model's validation cost
as much as everything else the collector does in Python (docs/performance.md). The rules and the errors are
the model's: the first bad field of an event names it (`events[3].ids.email`) with a sentence saying what
it must be; unknown event fields are ignored, unknown identifier kinds refused; long urls are cut, long
tokens refused.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from cloud.tracking.events import MAX_TOKEN, MAX_URL, UTM_KEYS

MAX_EVENTS = 500
MAX_PROPS = 20
MAX_PROP_KEY = 64
MAX_YM = 64
# What the browser may say happened; the e-receipt page's own types (receipt_open, block_click, ...) are
# recorded by the page, never accepted from a retailer's site.
SITE_TYPES = ("pageview", "identify", "subscribe", "login", "order", "signup")
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_ID = re.compile(ID_PATTERN[1:-1])  # used with fullmatch: `$` would also take a trailing newline
_SHA256_HEX = re.compile(SHA256_PATTERN[1:-1])
_SITE_TYPES = frozenset(SITE_TYPES)
_UTM_KEYS = frozenset(UTM_KEYS)
# A number for `at` is a Unix time in seconds, or in milliseconds above this (as pydantic read it).
_MS_ABOVE = 2e10


def _one_of(values: tuple[str, ...]) -> str:
    return "Input should be " + ", ".join(f"'{v}'" for v in values[:-1]) + f" or '{values[-1]}'"


_TYPE_ERROR = _one_of(SITE_TYPES)
_UTM_KEY_ERROR = _one_of(UTM_KEYS)


@dataclass(frozen=True, slots=True)
class WireIds:
    phone: str | None = None  # plain SHA-256 hex of the normalized phone, as the browser computed it
    email: str | None = None
    user_id: str | None = None  # the site's own user id


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One event as the tracker sends it (short names: it is the browser's upload), checked."""

    id: str  # canonical uuid
    type: str  # one of SITE_TYPES
    bid: str | None = None
    sid: str | None = None
    at: datetime | None = None
    url: str | None = None
    ref: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    yclid: str | None = None
    gclid: str | None = None
    ec_click: str | None = None
    ym: str | None = None
    ids: WireIds = WireIds()
    props: dict[str, str | int | float | bool] = field(default_factory=dict)


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


class BadEvent(ValueError):
    """One event's first bad field: `where` inside the event (`ids.email`; empty: the event itself)."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


def parse_batch(body: bytes) -> Parsed:
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
            good.append(parse_event(item))
        except BadEvent as exc:
            event_id = item.get("id") if isinstance(item, dict) else None
            rejected.append(
                Rejected(
                    index,
                    str(event_id)[:64] if event_id is not None else None,
                    f"events[{index}]" + (f".{exc.where}" if exc.where else ""),
                    exc.detail,
                )
            )
    return Parsed(good, rejected)


def parse_event(item: Any) -> WireEvent:
    """One event checked field by field in the wire order; the first bad field raises `BadEvent`."""
    if not isinstance(item, dict):
        raise BadEvent("", "Input should be a valid dictionary")
    get = item.get
    if "id" not in item:
        raise BadEvent("id", "Field required")
    event_id = _uuid(item["id"])
    kind = get("type")
    if kind not in _SITE_TYPES:
        raise BadEvent("type", _TYPE_ERROR if "type" in item else "Field required")
    return WireEvent(
        id=event_id,
        type=kind,
        bid=_browser_id("bid", get("bid")),
        sid=_browser_id("sid", get("sid")),
        at=_time(get("at")),
        url=_url("url", get("url")),
        ref=_url("ref", get("ref")),
        utm=_utm(item["utm"]) if "utm" in item else {},
        yclid=_token("yclid", get("yclid"), MAX_TOKEN),
        gclid=_token("gclid", get("gclid"), MAX_TOKEN),
        ec_click=_token("ec_click", get("ec_click"), MAX_TOKEN),
        ym=_token("ym", get("ym"), MAX_YM),
        ids=_ids(item["ids"]) if "ids" in item else WireIds(),
        props=_props(item["props"]) if "props" in item else {},
    )


def _uuid(value: Any) -> str:
    if not isinstance(value, str):
        raise BadEvent("id", "UUID input should be a string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadEvent("id", "Input should be a valid UUID") from None


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadEvent(where, "Input should be a valid string")
    return value


def _browser_id(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _ID.fullmatch(_string(where, value)):
        raise BadEvent(where, f"String should match pattern '{ID_PATTERN}'")
    return str(value)


def _url(where: str, value: Any) -> str | None:
    if value is None:
        return None
    return _string(where, value)[:MAX_URL]


def _token(where: str, value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if len(_string(where, value)) > limit:
        raise BadEvent(where, f"String should have at most {limit} characters")
    return str(value)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise BadEvent("at", "Input should be a valid datetime") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > _MS_ABOVE else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise BadEvent("at", "Input should be a valid datetime") from None
    raise BadEvent("at", "Input should be a valid datetime")


def _utm(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadEvent("utm", "Input should be a valid dictionary")
    out: dict[str, str] = {}
    for key, text in value.items():
        if key not in _UTM_KEYS:
            raise BadEvent(f"utm.{key}.[key]", _UTM_KEY_ERROR)
        if not isinstance(text, str):
            raise BadEvent(f"utm.{key}", "Input should be a valid string")
        if text:
            out[key] = text[:MAX_TOKEN]
    return out


def _ids(value: Any) -> WireIds:
    if not isinstance(value, dict):
        raise BadEvent("ids", "Input should be a valid dictionary")
    for key in value:
        if key not in ("phone", "email", "user_id"):
            raise BadEvent(f"ids.{key}", "Extra inputs are not permitted")
    phone, email, user_id = value.get("phone"), value.get("email"), value.get("user_id")
    for where, sha in (("phone", phone), ("email", email)):
        if sha is not None and not _SHA256_HEX.fullmatch(_string(f"ids.{where}", sha)):
            raise BadEvent(f"ids.{where}", f"String should match pattern '{SHA256_PATTERN}'")
    if user_id is not None:
        _string("ids.user_id", user_id)
        if not user_id:
            raise BadEvent("ids.user_id", "String should have at least 1 character")
        if len(user_id) > MAX_TOKEN:
            raise BadEvent("ids.user_id", f"String should have at most {MAX_TOKEN} characters")
    return WireIds(phone, email, user_id)


def _props(value: Any) -> dict[str, str | int | float | bool]:
    if not isinstance(value, dict):
        raise BadEvent("props", "Input should be a valid dictionary")
    if len(value) > MAX_PROPS:
        raise BadEvent("props", f"Dictionary should have at most {MAX_PROPS} items, not {len(value)}")
    out: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        if len(key) > MAX_PROP_KEY:
            raise BadEvent(f"props.{key}.[key]", f"String should have at most {MAX_PROP_KEY} characters")
        if isinstance(item, str):
            out[key] = item[:MAX_TOKEN]
        elif isinstance(item, bool | int | float):
            out[key] = item
        else:
            raise BadEvent(f"props.{key}", "Input should be a valid string, integer, number or boolean")
    return out
