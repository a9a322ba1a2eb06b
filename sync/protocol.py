"""Wire protocol v1 between agents and the cloud. The cloud imports this module and nothing else of `sync`.

JSON over HTTPS, batch endpoints, idempotent by the receipt's natural key (FN serial, FD number, FPD).
Money is integer kopecks; times are ISO 8601 (fiscal times are the register's local time, naive).
A batch carries each receipt as a plain object so that one malformed receipt is reported by its position
instead of sinking the whole batch.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from receipts import Receipt

VERSION = "v1"
PREFIX = f"/{VERSION}"
ENROLL_PATH = f"{PREFIX}/enroll"
HEARTBEAT_PATH = f"{PREFIX}/registers/heartbeat"
MAX_BATCH = 1000


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
    return _RECEIPT.validate_python(data)


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "receipt"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Wire):
    code: str = Field(min_length=4, max_length=64, examples=["K7QF-9MZC"])
    hostname: str = Field(default="", max_length=255, examples=["store12-till3"])
    agent_version: str = Field(default="", max_length=64, examples=["0.1.0"])


class EnrollResponse(_Wire):
    tenant_id: int
    store_id: int
    register_id: int
    token: str = Field(description="The register's bearer token. Shown once; keep it in the OS keyring.")


class ReceiptBatch(_Wire):
    receipts: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Receipts as `receipts.Receipt` serializes them; each is validated on its own.",
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

    model_config = ConfigDict(extra="ignore")

    agent_version: str = ""
    queue_depth: int = 0
    rejected_count: int = 0
    oldest_unsynced_age_s: float | None = None
    last_sync_at: datetime | None = None
    last_error: str | None = None
    register_time: datetime
    # --- optional additions --------------------------------------------------------------------------
    instance_id: str | None = Field(
        default=None,
        max_length=64,
        description="Made by the agent at its first start on a machine, kept in its data directory",
    )
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="New at every agent start; two agents with one token show as alternating sessions",
    )
    heartbeat_interval_s: float | None = Field(default=None, gt=0, description="When to expect the next one")
    outbox_bytes: int | None = Field(default=None, ge=0)
    outbox_quota_bytes: int | None = Field(default=None, ge=0, description="Over it: an alarm, no drops")
    outbox_recovered: list[str] = Field(
        default_factory=list, max_length=20, description="Corrupt outbox files moved aside on the register"
    )
    write_error: str | None = Field(
        default=None, max_length=1000, description="Receipts cannot be queued now (e.g. disk full)"
    )
    dead_letter: list[str] = Field(
        default_factory=list, max_length=20, description="Latest dead-lettered receipts: 'key: reason'"
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
    cloud_time: datetime
    clock_skew_s: float = Field(description="register_time minus cloud_time, seconds")


class Problem(BaseModel):
    """Error body of every 4xx/5xx: FastAPI's `detail`, always a sentence or a list of field errors."""

    detail: str | list[dict[str, Any]]
