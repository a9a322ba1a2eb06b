"""The register's durable outbox: every closed receipt is written here before the till moves on.

One SQLite file in WAL mode with `synchronous=FULL`: a commit is on disk (WAL fsynced) before `enqueue`
returns, so a receipt survives kill -9 and power loss from that moment. Rows are keyed by the receipt's
natural key (FN:FD:FPD), which makes a second close of the same receipt a no-op. Rows leave the
`pending` state only when the cloud acknowledged (`acked`) or refused them for good (`rejected`);
rejected rows stay for store IT to see and are never retried or deleted. Acked rows are kept until
`purge_acked` removes the ones past retention.

Both the agent's request threads (enqueue) and the sync worker's thread use one `Outbox`: SQLAlchemy
gives each thread its own connection from a small pool (two kept open, a few more in a burst), WAL lets
readers run beside the one writer, and `busy_timeout` makes a writer wait for the other instead of
failing.

Faults it handles itself: a file that SQLite finds corrupt when the outbox opens is moved aside intact
(with its -wal/-shm) and a new outbox is started, loudly (`quarantined()` lists such files until store IT
removes them); a write that fails (full disk) raises `OutboxWriteError` and is remembered in
`write_health()` until a later write succeeds; a size quota is only an alarm (`OutboxStats.over_quota`),
never a reason to drop an unsynced receipt.
"""

import json
import logging
import os
import pathlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from receipts import Receipt
from sync.protocol import receipt_to_wire

log = logging.getLogger("echeck.outbox")

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 512  # SQLite page cache per connection
POOL_SIZE = 2  # connections kept open
POOL_OVERFLOW = 10  # more while many threads write at once (SQLAlchemy's default), closed when returned
SCHEMA_VERSION = 1
# SQLite limits bound parameters per statement; batches are ≤ 1000 rows, chunks keep any caller safe.
_ID_CHUNK = 500
# Purge deletes this many rows per transaction, so a till's enqueue never waits long for the write lock.
_PURGE_CHUNK = 2000
CORRUPT_MARK = ".corrupt-"


class OutboxWriteError(RuntimeError):
    """A closed receipt could not be stored (disk full, read-only or failing disk). The message says why."""


class State(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    REJECTED = "rejected"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes stored as UTC (SQLite keeps no zone) and read back as aware UTC datetimes.

    The same storage and behaviour as SQLModel's UTCDateTime, which this table used until it became plain
    SQLAlchemy Core (docs/performance.md: SQLModel's ORM layer was ~7 MB of the agent's 80 MB budget).
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("outbox timestamps must be aware datetimes (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


# Own metadata: the cloud's models (and its Alembic autogenerate) must never see the register's table
# when both are imported in one process (tests, the demo).
_metadata = sa.MetaData()

# Plain SQLAlchemy Core, not an SQLModel class: the outbox only ever used the table, and SQLModel brings
# the ORM along (~7 MB resident in the agent). The schema is the one SQLModel created, column for column,
# so existing outbox files open unchanged.
OUTBOX = sa.Table(
    "outbox",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),  # "fn:fd:fpd"
    sa.Column("payload", sa.String, nullable=False),  # the wire dict of receipt_to_wire, as JSON text
    sa.Column("state", sa.String(16), nullable=False, default=State.PENDING.value),
    sa.Column("reason", sa.String),
    sa.Column("closed_at", UTCDateTime(), nullable=False),
    sa.Column("acked_at", UTCDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.String),
    sa.Index("ix_outbox_state_id", "state", "id"),
    sa.Index("ix_outbox_state_acked_at", "state", "acked_at"),
    # AUTOINCREMENT: ids are never reused after a purge, so "oldest first" by id stays true forever.
    sqlite_autoincrement=True,
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    key: str
    payload_json: str  # the wire dict as stored: the worker sends it without parsing it again
    closed_at: datetime  # aware, UTC

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.payload_json)
        return data


@dataclass(frozen=True, slots=True)
class RejectedEntry(OutboxEntry):
    reason: str


@dataclass(frozen=True, slots=True)
class RecentEntry:
    """A row as the cashier's status window shows it (the agent masks the contact)."""

    key: str
    state: State
    closed_at: datetime  # aware, UTC
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    acked: int
    rejected: int
    oldest_pending_closed_at: datetime | None
    last_acked_at: datetime | None
    total: int
    size_bytes: int = 0  # pages in use × page size: what the rows take, whatever was freed by purges
    quota_bytes: int | None = None

    @property
    def over_quota(self) -> bool:
        return self.quota_bytes is not None and self.size_bytes > self.quota_bytes


@dataclass(frozen=True, slots=True)
class WriteHealth:
    """The outbox's last write failure, while it lasts (cleared by the next successful enqueue)."""

    error: str | None
    failed_at: datetime | None
    failures: int  # since the process started


def _row(receipt: Receipt, closed_at: datetime) -> dict[str, object]:
    return {
        "key": str(receipt.key),
        "payload": json.dumps(receipt_to_wire(receipt), ensure_ascii=False, separators=(",", ":")),
        "state": State.PENDING.value,
        "closed_at": closed_at,
        "attempts": 0,
    }


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)  # callers pass UTC; a naive value is taken as UTC already
    return moment.astimezone(UTC)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start : start + _ID_CHUNK]


def _epoch_micros(column: Any) -> Any:
    """Microseconds since the epoch of a stored timestamp, in SQL. SQLAlchemy keeps SQLite datetimes as
    'YYYY-MM-DD HH:MM:SS.ffffff' text (UTC here): whole seconds from strftime, microseconds from the text;
    integers, so the difference is exact like timedelta's."""
    text = sa.type_coerce(column, sa.String)
    seconds = sa.cast(sa.func.strftime("%s", text), sa.Integer)
    return seconds * 1_000_000 + sa.cast(sa.func.substr(text, 21, 6), sa.Integer)


def _configure(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and a lost
        # receipt is the one failure echeck exists to prevent. Its cost is one fsync per close.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Each connection keeps its own page cache, 2 MB by default, filled to the brim by a drain. The
        # outbox reads the head of the pending index and one batch of rows at a time; 512 KiB holds that,
        # and the OS's file cache serves the rest. It is the agent's memory (target ≤ 80 MB) it saves.
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    finally:
        cursor.close()


class Outbox:
    """The durable queue of closed receipts on the register. Thread-safe; one instance per process."""

    def __init__(self, path: pathlib.Path, quota_bytes: int | None = None) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.quota_bytes = quota_bytes
        self.recovered_from: pathlib.Path | None = quarantine_if_corrupt(self.path)
        self._write_error: str | None = None
        self._write_failed_at: datetime | None = None
        self._write_failures = 0
        self._engine: Engine = sa.create_engine(
            f"sqlite:///{self.path}",
            # The worker thread and the agent's threads share the engine; the pool hands each its own
            # connection, so sqlite3's same-thread check only gets in the way.
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            # Pooled connections stay open with their page caches: two are kept (the sync worker and
            # one request thread), and a burst of concurrent closes gets up to ten more, closed again
            # when returned. SQLite takes one writer at a time anyway; WAL lets reads run beside it.
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
        sa.event.listen(self._engine, "connect", _configure)
        self._t = OUTBOX
        # one statement, executed with each receipt's values: built per call, SQLAlchemy would coerce every
        # value and compute a cache key each time (a fifth of the agent's CPU per closed receipt)
        self._insert = sqlite_insert(OUTBOX).on_conflict_do_nothing(index_elements=["key"])
        with self._engine.begin() as conn:
            _metadata.create_all(conn)
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------------

    def enqueue(self, receipt: Receipt, closed_at: datetime | None = None) -> bool:
        """Store a closed receipt durably; True if new, False if its key was already in the outbox.

        One transaction, committed (and fsynced) before returning. An existing row is never touched,
        whatever its state: a second close of the same fiscal document changes nothing.
        """
        try:
            with self._engine.begin() as conn:
                new = conn.execute(self._insert, _row(receipt, _utc(closed_at))).rowcount == 1
        except sa.exc.DBAPIError as exc:
            raise self._write_failed(exc) from exc
        self._write_ok()
        return new

    def enqueue_many(self, receipts: Iterable[Receipt], closed_at: datetime | None = None) -> int:
        """Store many receipts in one transaction (imports, benchmarks); returns how many were new."""
        moment = _utc(closed_at)
        rows = [_row(r, moment) for r in receipts]
        if not rows:
            return 0
        try:
            with self._engine.begin() as conn:
                before = conn.execute(sa.select(sa.func.count()).select_from(self._t)).scalar_one()
                conn.execute(self._insert, rows)
                after = conn.execute(sa.select(sa.func.count()).select_from(self._t)).scalar_one()
        except sa.exc.DBAPIError as exc:
            raise self._write_failed(exc) from exc
        self._write_ok()
        return after - before

    def _write_failed(self, exc: sa.exc.DBAPIError) -> OutboxWriteError:
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        message = f"the outbox {self.path} cannot store receipts: {reason}"
        self._write_error, self._write_failed_at = message, datetime.now(UTC)
        self._write_failures += 1
        log.error("outbox write failed", extra={"error": message, "failures": self._write_failures})
        return OutboxWriteError(message)

    def _write_ok(self) -> None:
        if self._write_error is not None:
            log.warning("outbox writes work again", extra={"after_failures": self._write_failures})
            self._write_error = None

    def write_health(self) -> WriteHealth:
        return WriteHealth(self._write_error, self._write_failed_at, self._write_failures)

    def mark_acked(self, ids: Iterable[int], at: datetime | None = None) -> None:
        """The cloud holds these rows now. Only pending rows move: an ack never revives a rejected one."""
        self._update_pending(ids, state=State.ACKED.value, acked_at=_utc(at), last_error=None)

    def mark_rejected(self, id: int, reason: str) -> None:
        """The cloud refused this receipt for good: keep it, with the reason, and stop sending it."""
        t = self._t
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == id, t.c.state == State.PENDING.value)
                .values(state=State.REJECTED.value, reason=reason)
            )

    def record_failure(self, ids: Iterable[int], error: str) -> None:
        """A send of these rows failed (network, 5xx, ...): count it; the rows stay pending."""
        self._update_pending(ids, attempts=self._t.c.attempts + 1, last_error=error[:1000])

    def _update_pending(self, ids: Iterable[int], **values: Any) -> None:
        t = self._t
        id_list = list(ids)
        if not id_list:
            return
        with self._engine.begin() as conn:
            for chunk in _chunks(id_list):
                conn.execute(
                    sa.update(t).where(t.c.id.in_(chunk), t.c.state == State.PENDING.value).values(**values)
                )

    def purge_acked(self, older_than: datetime) -> int:
        """Delete acked rows acknowledged before `older_than`; pending and rejected rows are never purged."""
        t = self._t
        cutoff = _utc(older_than)
        purged = 0
        while True:
            batch = (
                sa.select(t.c.id)
                .where(t.c.state == State.ACKED.value, t.c.acked_at < cutoff)
                .limit(_PURGE_CHUNK)
                .scalar_subquery()
            )
            with self._engine.begin() as conn:
                count = conn.execute(sa.delete(t).where(t.c.id.in_(batch))).rowcount
            purged += count
            if count < _PURGE_CHUNK:
                return purged

    def requeue_rejected(self, keys: Iterable[str] | None = None) -> int:
        """Send dead-lettered rows again (all, or these keys): for store IT once the cause is fixed."""
        t = self._t
        query = sa.update(t).where(t.c.state == State.REJECTED.value)
        if keys is not None:
            query = query.where(t.c.key.in_(list(keys)))
        with self._engine.begin() as conn:
            return conn.execute(query.values(state=State.PENDING.value, reason=None, attempts=0)).rowcount

    def quarantined(self) -> list[pathlib.Path]:
        """Corrupt outbox files moved aside (oldest first): kept for store IT, never deleted by echeck."""
        return quarantined_files(self.path)

    # --- reading -------------------------------------------------------------------------------------

    def pending(self, limit: int) -> list[OutboxEntry]:
        """The oldest `limit` unsent rows, in the order they were closed."""
        t = self._t
        query = (
            sa.select(t.c.id, t.c.key, t.c.payload, t.c.closed_at)
            .where(t.c.state == State.PENDING.value)
            .order_by(t.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [OutboxEntry(r.id, r.key, r.payload, r.closed_at) for r in rows]

    def rejected(self, limit: int = 100) -> list[RejectedEntry]:
        """The most recently rejected rows, newest first, with the cloud's reason."""
        t = self._t
        query = (
            sa.select(t.c.id, t.c.key, t.c.payload, t.c.closed_at, t.c.reason)
            .where(t.c.state == State.REJECTED.value)
            .order_by(t.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [RejectedEntry(r.id, r.key, r.payload, r.closed_at, r.reason or "") for r in rows]

    def recent(self, limit: int = 20) -> list[RecentEntry]:
        """The most recently closed rows in any state, newest first: the cashier's status window."""
        t = self._t
        query = sa.select(t.c.key, t.c.payload, t.c.closed_at, t.c.state).order_by(t.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [RecentEntry(r.key, State(r.state), r.closed_at, json.loads(r.payload)) for r in rows]

    def stats(self) -> OutboxStats:
        t = self._t
        with self._engine.connect() as conn:
            counts: dict[str, int] = {
                state: count
                for state, count in conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))
            }
            # Both lookups ride the (state, ...) indexes: the min id of pending is its oldest row.
            oldest = conn.execute(
                sa.select(t.c.closed_at).where(t.c.state == State.PENDING.value).order_by(t.c.id).limit(1)
            ).scalar()
            last_acked = conn.execute(
                sa.select(sa.func.max(t.c.acked_at)).where(t.c.state == State.ACKED.value)
            ).scalar()
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        pending = counts.get(State.PENDING.value, 0)
        acked = counts.get(State.ACKED.value, 0)
        rejected = counts.get(State.REJECTED.value, 0)
        return OutboxStats(
            pending=pending,
            acked=acked,
            rejected=rejected,
            oldest_pending_closed_at=oldest,
            last_acked_at=last_acked,
            total=pending + acked + rejected,
            size_bytes=(pages - free) * page_size,
            quota_bytes=self.quota_bytes,
        )

    def ack_latencies(self, limit: int = 10000) -> list[float]:
        """Seconds from close to the cloud's acknowledgement, for the most recently acked rows."""
        # Computed by SQLite from the stored text: the agent's status asks for 10 000 of these each time,
        # and decoding 20 000 timestamps into aware datetimes cost ~60 ms of the GIL the sync worker needs.
        t = self._t
        micros = _epoch_micros(t.c.acked_at) - _epoch_micros(t.c.closed_at)
        query = (
            sa.select(micros)
            .where(t.c.state == State.ACKED.value)
            .order_by(t.c.acked_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [m / 1_000_000 for m in conn.execute(query).scalars()]

    def attempts(self, key: str) -> tuple[int, str | None]:
        """How often sending this receipt failed and the last error: what `status` shows for one row."""
        t = self._t
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(t.c.attempts, t.c.last_error).where(t.c.key == key)).first()
        if row is None:
            raise KeyError(key)
        return row.attempts, row.last_error


def quarantined_files(path: pathlib.Path) -> list[pathlib.Path]:
    pattern = f"{path.stem}{CORRUPT_MARK}*{path.suffix}"
    return sorted(p for p in path.parent.glob(pattern) if p.is_file())


def _integrity_problem(path: pathlib.Path) -> str | None:
    """None when SQLite can open the file and `quick_check` says ok; else what is wrong, in a sentence."""
    try:
        # A plain sqlite3 connection: no pragmas that write (journal_mode) before the check has passed.
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        verdict = "; ".join(str(r[0]) for r in rows[:5])
        return None if verdict == "ok" else f"quick_check: {verdict}"
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        return str(exc)
    finally:
        conn.close()


def quarantine_if_corrupt(path: pathlib.Path) -> pathlib.Path | None:
    """Move a corrupt outbox (and its -wal/-shm) aside, intact; returns where it went, or None if healthy.

    Nothing is deleted: the moved file may still hold unsynced receipts that store IT can recover with
    the sqlite3 shell (`.recover`). The agent then starts on a new, empty outbox: the till keeps working.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    problem = _integrity_problem(path)
    if problem is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.stem}{CORRUPT_MARK}{stamp}{path.suffix}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        source = pathlib.Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{target}{suffix}")
    log.critical(
        "OUTBOX CORRUPT: moved aside intact, a new outbox is started",
        extra={"corrupt_file": str(target), "problem": problem},
    )
    return target
