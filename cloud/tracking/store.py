"""Writing and reading the event store: append-only, each event once by its `event_id`.

Deduplication is a claim on the id in `tracking_event_key` (INSERT ... ON CONFLICT DO NOTHING RETURNING),
then one multi-row insert of the events whose ids were new. Both run in the caller's transaction, so a
batch is stored whole or not at all, and a retried batch stores nothing twice.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cloud.tracking.events import UTM_KEYS, EventType, Identifier, IdentifierKind, TrackedEvent
from cloud.tracking.models import TrackingEvent, TrackingEventKey

KEYS = TrackingEventKey.__table__  # type: ignore[attr-defined]
EVENTS = TrackingEvent.__table__  # type: ignore[attr-defined]


def record_events(
    session: Session, events: Sequence[TrackedEvent], *, wait_for_commit: bool = True
) -> list[TrackedEvent]:
    """Stores the events not seen before; returns them (a resent or repeated event_id is skipped). Without
    `wait_for_commit`, as `without_commit_wait` (set by the same statement: one round trip fewer)."""
    unique = list({e.event_id: e for e in events}.values())
    if not unique:
        if not wait_for_commit:
            without_commit_wait(session)
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement = _PG_RECORD if wait_for_commit else _PG_RECORD_NO_WAIT
        claimed = set(session.execute(statement, {"rows": _pg_rows(unique)}).scalars())
        return [e for e in unique if e.event_id in claimed]
    claim = _insert(session, KEYS).on_conflict_do_nothing(index_elements=["event_id"])
    claimed = set(
        session.execute(
            claim.returning(KEYS.c.event_id),
            [{"event_id": e.event_id, "received_at": e.received_at} for e in unique],
        ).scalars()
    )
    fresh = [e for e in unique if e.event_id in claimed]
    if fresh:
        session.execute(sa.insert(EVENTS), [_row(e) for e in fresh])
    return fresh


# PostgreSQL: claim and insert in one statement over the batch sent as one JSON array (as ingest does; `json`,
# not `jsonb`: the text is read once, never converted to binary): the text never changes (psycopg and
# PostgreSQL parse it once), and a batch is one round trip.
_PG_COLUMNS = (
    ("event_id", "text"),
    ("received_at", "timestamptz"),
    ("tenant_id", "integer"),
    ("type", "text"),
    ("client_at", "timestamptz"),
    ("browser_id", "text"),
    ("session_id", "text"),
    ("url", "text"),
    ("referrer", "text"),
    *((f"utm_{key}", "text") for key in UTM_KEYS),
    ("yclid", "text"),
    ("gclid", "text"),
    ("ec_click", "text"),
    ("ym_client_id", "text"),
    ("receipt_id", "bigint"),
    ("block_id", "text"),
    ("identifiers", "jsonb"),
    ("properties", "jsonb"),
    ("bot", "text"),
)
_PG_NAMES = ", ".join(name for name, _ in _PG_COLUMNS)
_PG_INPUT = (
    "json_to_recordset(CAST(:rows AS json)) AS r("
    + ", ".join(f"{name} {kind}" for name, kind in _PG_COLUMNS)
    + ")"
)
_PG_CLAIM_AND_INSERT = (
    "claimed AS (INSERT INTO tracking_event_key (event_id, received_at) "
    "SELECT event_id, received_at FROM input ON CONFLICT (event_id) DO NOTHING RETURNING event_id) "
    f"INSERT INTO tracking_event ({_PG_NAMES}) SELECT {_PG_NAMES} FROM input JOIN claimed USING (event_id) "
    "RETURNING event_id"
)
_PG_RECORD = sa.text(f"WITH input AS (SELECT * FROM {_PG_INPUT}), {_PG_CLAIM_AND_INSERT}")
# The same, and `SET LOCAL synchronous_commit TO OFF` as set_config(..., true) in the input's FROM (a
# volatile one-row relation joined to every row, so it runs before the rows are read, once).
_PG_RECORD_NO_WAIT = sa.text(
    "WITH input AS (SELECT r.* FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_wait, "
    f"{_PG_INPUT}), {_PG_CLAIM_AND_INSERT}"
)


def _pg_rows(events: Sequence[TrackedEvent]) -> str:
    return orjson.dumps([_row(e) for e in events]).decode()


def without_commit_wait(session: Session) -> None:
    """This transaction's COMMIT does not wait for the WAL flush (PostgreSQL's `synchronous_commit = off`):
    a crash of the database server may lose the last fraction of a second of events, never corrupt or half-
    store them. For the site tracker's page views, whose browsers were answered already; not for money."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))


def events_where(
    session: Session,
    tenant_id: int,
    *,
    receipt_id: int | None = None,
    browser_id: str | None = None,
    types: Iterable[EventType] = (),
    since: datetime | None = None,
) -> list[TrackedEvent]:
    """One tenant's events, oldest first, narrowed by receipt, browser, type and time."""
    query = select(TrackingEvent).where(TrackingEvent.tenant_id == tenant_id)
    if receipt_id is not None:
        query = query.where(TrackingEvent.receipt_id == receipt_id)
    if browser_id is not None:
        query = query.where(TrackingEvent.browser_id == browser_id)
    wanted = [t.value for t in types]
    if wanted:
        query = query.where(col(TrackingEvent.type).in_(wanted))
    if since is not None:
        query = query.where(TrackingEvent.received_at >= since)
    query = query.order_by(col(TrackingEvent.received_at), col(TrackingEvent.event_id))
    return [to_event(row) for row in session.exec(query)]


def forget_keys_before(session: Session, cutoff: datetime) -> int:
    """Ends the dedup window: ids claimed before `cutoff` may be stored again (no retry is that late)."""
    done = session.execute(sa.delete(KEYS).where(KEYS.c.received_at < cutoff))
    return int(getattr(done, "rowcount", 0) or 0)


def to_event(row: TrackingEvent) -> TrackedEvent:
    utm = {key: value for key in UTM_KEYS if (value := getattr(row, f"utm_{key}"))}
    return TrackedEvent(
        event_id=row.event_id,
        tenant_id=row.tenant_id,
        type=EventType(row.type),
        received_at=row.received_at,
        client_at=row.client_at,
        browser_id=row.browser_id,
        session_id=row.session_id,
        url=row.url,
        referrer=row.referrer,
        utm=utm,
        yclid=row.yclid,
        gclid=row.gclid,
        ec_click=row.ec_click,
        ym_client_id=row.ym_client_id,
        receipt_id=row.receipt_id,
        block_id=row.block_id,
        identifiers=tuple(Identifier(IdentifierKind(i["kind"]), i["hash"]) for i in row.identifiers or ()),
        properties=dict(row.properties or {}),
        bot=row.bot,
    )


def _row(event: TrackedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "received_at": event.received_at,
        "tenant_id": event.tenant_id,
        "type": event.type.value,
        "client_at": event.client_at,
        "browser_id": event.browser_id,
        "session_id": event.session_id,
        "url": event.url,
        "referrer": event.referrer,
        **{f"utm_{key}": event.utm.get(key) for key in UTM_KEYS},
        "yclid": event.yclid,
        "gclid": event.gclid,
        "ec_click": event.ec_click,
        "ym_client_id": event.ym_client_id,
        "receipt_id": event.receipt_id,
        "block_id": event.block_id,
        "identifiers": [{"kind": i.kind.value, "hash": i.hash} for i in event.identifiers] or None,
        "properties": dict(event.properties) or None,
        "bot": event.bot,
    }


def _insert(session: Session, table: sa.Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
