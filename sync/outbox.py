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

Faults it handles itself: a file that SQLite confirms corrupt when the outbox opens is moved aside intact
(with its -wal/-shm) and a new outbox is started, loudly (`quarantined()` lists such files until store IT
removes them), into which the moved file's readable pending receipts are copied, once per file (a file
that is only locked by another program is waited for, never moved: `sync.quarantine`); a write that
fails (full disk) raises `OutboxWriteError` and is remembered in
`write_health()` until a later write succeeds; a size quota is only an alarm (`OutboxStats.over_quota`),
never a reason to drop an unsynced receipt. The directory and files are owner-only (0700/0600): they hold
buyers' raw contacts.

The same file keeps the POS's open checkouts (`checkouts`): a checkout's state is written at every step,
and a close writes the receipt and the closed checkout in one transaction, so a POS that retries a close
after the agent was killed gets the same answer, and open checkouts survive a restart.
"""

import json
import logging
import pathlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from receipts import Receipt
from sync.outbox_schema import (
    CHECKOUTS,
    METADATA,
    OUTBOX,
    RECOVERED,
    SCHEMA_VERSION,
    State,
)
from sync.private_files import create_private, restrict_files
from sync.protocol import receipt_to_wire
from sync.quarantine import quarantine_if_corrupt, quarantined_files, readable_pending

log = logging.getLogger("echeck.outbox")

BUSY_TIMEOUT_MS = 10_000
# At start, how long a lock held by another program is waited out before the agent gives up (it is
# restarted by its service manager and waits again; the file is never moved for a lock).
OPEN_WAIT_S = 120.0
KEEP_ENDED_CHECKOUTS = 10_000  # ended checkouts kept, so that a repeated close is answered after a restart
OPEN_CHECKOUT_DAYS = 7  # an open checkout untouched this long was abandoned by its POS
CACHE_KIB = 512  # SQLite page cache per connection
POOL_SIZE = 2  # connections kept open
POOL_OVERFLOW = 10  # more while many threads write at once (SQLAlchemy's default), closed when returned
# SQLite limits bound parameters per statement; batches are ≤ 1000 rows, chunks keep any caller safe.
_ID_CHUNK = 500
# Purge deletes this many rows per transaction, so a till's enqueue never waits long for the write lock.
_PURGE_CHUNK = 2000


class OutboxWriteError(RuntimeError):
    """A closed receipt could not be stored (disk full, read-only or failing disk). The message says why."""


@dataclass(frozen=True, slots=True)
class SavedCheckout:
    """A checkout as the agent records it: its id, its state as JSON text, and whether it is still open."""

    checkout_id: str
    record: str
    is_open: bool


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


def _checkout_row(checkout: SavedCheckout, at: datetime) -> dict[str, object]:
    return {
        "checkout_id": checkout.checkout_id,
        "record": checkout.record,
        "is_open": checkout.is_open,
        "updated_at": at,
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

    def __init__(
        self, path: pathlib.Path, quota_bytes: int | None = None, open_wait_s: float = OPEN_WAIT_S
    ) -> None:
        self.path = pathlib.Path(path)
        self.quota_bytes = quota_bytes
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.recovered_from: pathlib.Path | None = quarantine_if_corrupt(
            self.path, BUSY_TIMEOUT_MS / 1000, open_wait_s
        )
        create_private(self.path)
        restrict_files(self.path, quarantined_files(self.path))
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
        upsert = sqlite_insert(CHECKOUTS)
        self._save_checkout = upsert.on_conflict_do_update(
            index_elements=["checkout_id"],
            set_={c: upsert.excluded[c] for c in ("record", "is_open", "updated_at")},
        )
        with self._engine.begin() as conn:
            METADATA.create_all(conn)
            if conn.exec_driver_sql("PRAGMA user_version").scalar_one() != SCHEMA_VERSION:
                conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.recovered = self._recover_quarantined()
        self.prune_checkouts()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------------

    def enqueue(
        self, receipt: Receipt, closed_at: datetime | None = None, checkout: SavedCheckout | None = None
    ) -> bool:
        """Store a closed receipt durably; True if new, False if its key was already in the outbox.

        One transaction, committed (and fsynced) before returning, with the closed `checkout` when given:
        either both are on disk or neither. An existing row is never touched, whatever its state: a
        second close of the same fiscal document changes nothing.
        """
        moment = _utc(closed_at)
        try:
            with self._engine.begin() as conn:
                new = conn.execute(self._insert, _row(receipt, moment)).rowcount == 1
                if checkout is not None:
                    conn.execute(self._save_checkout, _checkout_row(checkout, moment))
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

    def _recover_quarantined(self) -> int:
        """Copy the readable pending receipts of every quarantined file not recovered yet; returns how many
        rows were new. Each file once (recorded in the same transaction), each key once (the unique key)."""
        t = RECOVERED
        with self._engine.connect() as conn:
            done = set(conn.execute(sa.select(t.c.name)).scalars())
        added = 0
        for path in self.quarantined():
            if path.name in done:
                continue
            rows = readable_pending(path)
            values = [
                {"key": r.key, "payload": r.payload, "state": State.PENDING.value, "closed_at": r.closed_at}
                for r in rows
            ]
            with self._engine.begin() as conn:
                # The file's mark first: it takes the write lock, so a second process opening the outbox
                # at the same moment (`echeck-agent status`) finds it marked and copies nothing.
                claim = sqlite_insert(t).values(name=path.name, receipts=0, recovered_at=_utc(None))
                if conn.execute(claim.on_conflict_do_nothing()).rowcount == 0:
                    continue
                before = conn.execute(sa.select(sa.func.count()).select_from(self._t)).scalar_one()
                if values:
                    conn.execute(self._insert, [{**v, "attempts": 0} for v in values])
                after = conn.execute(sa.select(sa.func.count()).select_from(self._t)).scalar_one()
                conn.execute(sa.update(t).where(t.c.name == path.name).values(receipts=after - before))
            added += after - before
            log.critical(
                "OUTBOX RECOVERED: pending receipts of a corrupt file copied into the outbox",
                extra={"corrupt_file": path.name, "readable": len(rows), "new": after - before},
            )
        return added

    # --- checkouts -----------------------------------------------------------------------------------

    def save_checkout(self, checkout: SavedCheckout) -> None:
        """Record a checkout's state (durably, like a receipt): open checkouts survive a restart."""
        try:
            with self._engine.begin() as conn:
                conn.execute(self._save_checkout, _checkout_row(checkout, _utc(None)))
        except sa.exc.DBAPIError as exc:
            raise self._write_failed(exc) from exc
        self._write_ok()

    def checkout(self, checkout_id: str) -> SavedCheckout | None:
        c = CHECKOUTS.c
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(c.record, c.is_open).where(c.checkout_id == checkout_id)).first()
        return SavedCheckout(checkout_id, row.record, row.is_open) if row else None

    def open_checkouts(self) -> list[SavedCheckout]:
        """The checkouts still open, oldest first (what the agent takes back after a restart)."""
        c = CHECKOUTS.c
        query = sa.select(c.checkout_id, c.record).where(c.is_open.is_(True)).order_by(c.updated_at)
        with self._engine.connect() as conn:
            return [SavedCheckout(r.checkout_id, r.record, True) for r in conn.execute(query)]

    def prune_checkouts(self, keep_ended: int = KEEP_ENDED_CHECKOUTS, now: datetime | None = None) -> int:
        """Forget ended checkouts past the newest `keep_ended`, and open ones abandoned for days."""
        c = CHECKOUTS.c
        stale = _utc(now) - timedelta(days=OPEN_CHECKOUT_DAYS)
        kept = (
            sa.select(c.checkout_id)
            .where(c.is_open.is_(False))
            .order_by(c.updated_at.desc())
            .limit(keep_ended)
            .scalar_subquery()
        )
        with self._engine.begin() as conn:
            ended = conn.execute(
                sa.delete(CHECKOUTS).where(c.is_open.is_(False), c.checkout_id.not_in(kept))
            ).rowcount
            abandoned = conn.execute(
                sa.delete(CHECKOUTS).where(c.is_open.is_(True), c.updated_at < stale)
            ).rowcount
        return ended + abandoned

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
