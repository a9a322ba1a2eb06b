"""Wire protocol v1 between agents and the cloud. The cloud imports this module and nothing else of `sync`.

JSON over HTTPS, batch endpoints, idempotent by the receipt's natural key (FN serial, FD number, FPD).
Money is integer kopecks; times are ISO 8601 (fiscal times are the register's local time, naive).
A batch carries each receipt as a plain JSON value so that one malformed receipt is reported by its position
instead of sinking the whole batch.

What a database or a JSON encoder cannot hold is refused on the way in, naming the field: integers outside
64 bits, NUL characters and lone UTF-16 surrogates in strings (PostgreSQL refuses the first, UTF-8 the
second), over-long strings. In a receipt that rejects the receipt, not the batch; in an identifier
(`agent_version`, `hostname`, ids) it is a 422; free diagnostic text in a heartbeat is cleaned and cut.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from receipts import Receipt

VERSION = "v1"
PREFIX = f"/{VERSION}"
ENROLL_PATH = f"{PREFIX}/enroll"
HEARTBEAT_PATH = f"{PREFIX}/registers/heartbeat"
MAX_BATCH = 1000
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
MAX_LOYALTY_CARD = 64  # the cloud's column
MAX_EXTRA_ENTRIES = 32
MAX_EXTRA_KEY = 64
MAX_EXTRA_VALUE = 1024
MAX_WIRE_STRING = 4096  # any other string in a receipt (item names are 1..128 by the domain)
_MAX_DEPTH = 8

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored, or None."""
    bad = _BAD_CHARS.search(value)
    if bad is None:
        return None
    return "contains a NUL character" if bad.group() == "\x00" else "contains a lone UTF-16 surrogate"


def _clean_identifier(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _clean_text(value: Any) -> Any:
    """Free diagnostic text: characters no database stores become U+FFFD instead of failing the request."""
    return _BAD_CHARS.sub("\ufffd", value) if isinstance(value, str) else value


def _cut(limit: int) -> Any:
    return BeforeValidator(lambda v: _clean_text(v)[:limit] if isinstance(v, str) else v)


# An identifier: refused (422 naming the field) if it holds what no database stores. The pattern tells the
# OpenAPI document about NUL; lone surrogates are not text at all (RFC 8259 section 8.1), refused as well.
NO_NUL = "^[^\\u0000]*$"
WireId = Annotated[str, AfterValidator(_clean_identifier), Field(json_schema_extra={"pattern": NO_NUL})]

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _not_a_number(value: Any) -> Any:
    # Pydantic reads 0, 0.5 or "1700000000" as a Unix time; on this wire a time is written ISO 8601.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("write an ISO 8601 date-time, e.g. 2026-11-23T10:00:00Z")
    return value


# A date-time on the wire: ISO 8601 text, never a number.
WireDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


def batch_path(store_id: int) -> str:
    return f"{PREFIX}/stores/{store_id}/receipts/batch"


def receipts_path(store_id: int) -> str:
    return f"{PREFIX}/stores/{store_id}/receipts"


_RECEIPT = TypeAdapter(Receipt)


def receipt_to_wire(receipt: Receipt) -> dict[str, Any]:
    wire: dict[str, Any] = _RECEIPT.dump_python(receipt, mode="json")
    return wire


def receipt_from_wire(data: Any) -> Receipt:
    """Raises pydantic.ValidationError; `describe` turns it into one line for the sender."""
    problems = wire_problems(data)
    if problems:
        raise ValidationError.from_exception_data("Receipt", problems)
    return _RECEIPT.validate_python(data)


def _problem(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return {"type": PydanticCustomError("wire_value", message), "loc": loc, "input": None}


def wire_problems(data: Any) -> list[InitErrorDetails]:
    """What in a receipt's JSON no database or encoder can hold, by field; empty when it is storable."""
    # Nearly every receipt is storable: one pass that builds no field locations says so.
    return [] if _storable(data) else _every_problem(data)


def _every_problem(data: Any) -> list[InitErrorDetails]:
    """One linear pass naming each field; the first problem per field is enough for the sender."""
    problems: list[InitErrorDetails] = []
    if isinstance(data, dict):
        card = data.get("loyalty_card")
        if isinstance(card, str) and len(card) > MAX_LOYALTY_CARD:
            problems.append(_problem(("loyalty_card",), f"at most {MAX_LOYALTY_CARD} characters"))
        extra = data.get("extra")
        if isinstance(extra, dict):
            if len(extra) > MAX_EXTRA_ENTRIES:
                problems.append(_problem(("extra",), f"at most {MAX_EXTRA_ENTRIES} entries"))
            for key, value in extra.items():
                if isinstance(value, str) and len(value) > MAX_EXTRA_VALUE and len(key) <= MAX_EXTRA_KEY:
                    problems.append(_problem(("extra", key), f"at most {MAX_EXTRA_VALUE} characters"))
    _walk(data, (), 0, problems)
    return problems


def _storable(data: Any) -> bool:
    """`not _every_problem(data)`, at half its cost (ingest runs it on every receipt). The rules for
    strings, integers, keys and nesting are `_walk`'s, inlined; any other kind of value is left to `_walk`
    itself. tests/sync/test_protocol_wire.py checks the two agree."""
    if isinstance(data, dict):
        card = data.get("loyalty_card")
        if isinstance(card, str) and len(card) > MAX_LOYALTY_CARD:
            return False
        extra = data.get("extra")
        if isinstance(extra, dict) and (
            len(extra) > MAX_EXTRA_ENTRIES
            # too long a value is a problem whatever its key (a long key is one too)
            or any(isinstance(v, str) and len(v) > MAX_EXTRA_VALUE for v in extra.values())
        ):
            return False
    return _clean(data, 0)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: Any, depth: int) -> bool:
    """True when `_walk` finds no problem in `value`. Strings and integers inside a container are checked
    in its loop (no call per leaf: a receipt is ~30 values and 25 keys in 5 containers), and an ASCII
    string (`isascii` is O(1)) only needs the search for NUL."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return _walk_finds_nothing(value, depth)
    if depth >= _MAX_DEPTH:
        return False
    if kind is dict:
        for key in value:
            if isinstance(key, str) and (
                len(key) > MAX_EXTRA_KEY or "\x00" in key or (not key.isascii() and _SURROGATE.search(key))
            ):
                return False
    for item in value.values() if kind is dict else value:
        kind = type(item)
        if kind is str:
            if (
                len(item) > MAX_WIRE_STRING
                or "\x00" in item
                or (not item.isascii() and _SURROGATE.search(item))
            ):
                return False
        elif kind is int:
            if not -INT64_MAX - 1 <= item <= INT64_MAX:
                return False
        elif item is not None and not _clean(item, depth + 1):
            return False
    return True


def _walk_finds_nothing(value: Any, depth: int) -> bool:
    problems: list[InitErrorDetails] = []
    _walk(value, (), depth, problems)
    return not problems


def _walk(value: Any, loc: tuple[str | int, ...], depth: int, problems: list[InitErrorDetails]) -> None:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            problems.append(_problem(loc, problem))
        elif len(value) > MAX_WIRE_STRING:
            problems.append(_problem(loc, f"at most {MAX_WIRE_STRING} characters"))
    elif isinstance(value, bool):
        problems.append(_problem(loc, "true/false where a number or text belongs"))  # no receipt field is one
    elif isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            problems.append(_problem(loc, "must fit in 64 bits (below 2^63)"))
    elif isinstance(value, dict | list):
        if depth >= _MAX_DEPTH:
            problems.append(_problem(loc, "nested too deep"))
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and (text_problem(key) or len(key) > MAX_EXTRA_KEY):
                # The key itself cannot be echoed back (it may not even encode): name its parent.
                problems.append(_problem(loc, "a field name is too long or holds a NUL or a lone surrogate"))
                continue
            _walk(item, (*loc, key), depth + 1, problems)


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "receipt"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


UpdateChannel = Literal[
    "stable", "beta"
]  # stable: every store; beta: the few stores that get a release first
UPDATE_CHANNELS: tuple[UpdateChannel, ...] = ("stable", "beta")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Wire):
    code: WireId = Field(min_length=4, max_length=64, examples=["K7QF-9MZC"])
    hostname: WireId = Field(default="", max_length=255, examples=["store12-till3"])
    agent_version: WireId = Field(default="", max_length=64, examples=["0.1.0"])


class EnrollResponse(_Wire):
    tenant_id: int
    store_id: int
    register_id: int
    token: str = Field(description="The register's bearer token. Shown once; keep it in the OS keyring.")
    public_url: str | None = Field(default=None, description="Where buyers open e-receipts (the popup's QR)")


class ReceiptBatch(_Wire):
    receipts: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Receipts as `receipts.Receipt` serializes them (JSON objects); each is validated on its "
        "own, and one that is not valid is listed in `rejected` while the others are stored.",
    )


class ItemStatus(StrEnum):
    STORED = "stored"  # new: stored now
    DUPLICATE = "duplicate"  # the same receipt was stored before: acknowledged again
    CONFLICT = "conflict"  # same key, different content: the first stays, the resend is flagged


class Accepted(_Wire):
    index: int
    key: str
    status: ItemStatus


class Rejected(_Wire):
    index: int
    reason: str


class BatchResult(_Wire):
    # Only the field names go to pydantic-core's string cache: by default every short string does, and
    # the receipt keys here are all unique, so the cache filled up with 16 384 dead keys (~1.3 MB kept for
    # the agent's lifetime, of its ≤ 80 MB).
    model_config = ConfigDict(cache_strings="keys")

    accepted: list[Accepted] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)


class Heartbeat(_Wire):
    """What a register reports every `heartbeat_interval_s`. Fields after `register_time` were added later
    and are optional, so v1 agents and clouds stay compatible: unknown fields are ignored (a tolerant
    reader), and an agent whose extended heartbeat gets 422 from an older cloud resends `HEARTBEAT_V1_FIELDS`.
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    agent_version: WireId = Field(default="", max_length=64)
    queue_depth: int = Field(default=0, ge=0, le=INT32_MAX, strict=True)
    rejected_count: int = Field(default=0, ge=0, le=INT32_MAX, strict=True)
    oldest_unsynced_age_s: float | None = Field(default=None, strict=True)
    last_sync_at: WireDateTime | None = None
    last_error: Annotated[str | None, _cut(1000)] = Field(default=None, description="cut to 1000 characters")
    register_time: WireDateTime
    # --- optional additions --------------------------------------------------------------------------
    instance_id: WireId | None = Field(
        default=None,
        max_length=64,
        description="Made by the agent at its first start on a machine, kept in its data directory",
    )
    session_id: WireId | None = Field(
        default=None,
        max_length=64,
        description="New at every agent start; two agents with one token show as alternating sessions",
    )
    heartbeat_interval_s: float | None = Field(
        default=None, gt=0, strict=True, description="When to expect the next one"
    )
    outbox_bytes: int | None = Field(default=None, ge=0, le=INT64_MAX, strict=True)
    outbox_quota_bytes: int | None = Field(
        default=None, ge=0, le=INT64_MAX, strict=True, description="Over it: an alarm, no drops"
    )
    outbox_recovered: list[Annotated[str, _cut(255)]] = Field(
        default_factory=list, max_length=20, description="Corrupt outbox files moved aside on the register"
    )
    write_error: Annotated[str | None, BeforeValidator(_clean_text)] = Field(
        default=None, max_length=1000, description="Receipts cannot be queued now (e.g. disk full)"
    )
    dead_letter: list[Annotated[str, _cut(300)]] = Field(
        default_factory=list, max_length=20, description="Latest dead-lettered receipts: 'key: reason'"
    )
    update_channel: UpdateChannel | None = Field(
        default=None, description="The update channel the register follows now (packaged agents only)"
    )


HEARTBEAT_V1_FIELDS = frozenset(
    {
        "agent_version",
        "queue_depth",
        "rejected_count",
        "oldest_unsynced_age_s",
        "last_sync_at",
        "last_error",
        "register_time",
    }
)


class HeartbeatAck(_Wire):
    # A tolerant reader from here on: a later cloud may say more than this agent knows.
    model_config = ConfigDict(extra="ignore")

    cloud_time: datetime
    clock_skew_s: float = Field(description="register_time minus cloud_time, seconds")
    update_channel: UpdateChannel | None = Field(
        default=None,
        description="The channel head office assigned to the register's store; only sent to an agent whose "
        "heartbeat named a channel (older agents refuse unknown fields)",
    )


class Problem(BaseModel):
    """Error body of every 4xx/5xx: FastAPI's `detail`, always a sentence or a list of field errors."""

    detail: str | list[dict[str, Any]]
