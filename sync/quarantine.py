"""A corrupt outbox file: telling it from a busy one, moving it aside intact, reading what it still holds.

Only corruption that SQLite itself confirms quarantines a file: `PRAGMA quick_check` finding damage, or
SQLITE_CORRUPT / SQLITE_NOTADB. A file that is merely locked by another program (SQLITE_BUSY/LOCKED: a
backup tool, the sqlite3 shell, a second agent) is healthy: the outbox waits for it and never moves it.

Nothing is deleted. The moved file keeps its bytes for store IT; its readable pending receipts are copied
into the new outbox (by `Outbox`, once per file) from a scratch copy, so reading never alters it.
"""

import json
import logging
import os
import pathlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from sync.protocol import receipt_from_wire

log = logging.getLogger("echeck.outbox")

CORRUPT_MARK = ".corrupt-"
SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite's primary result codes (the low byte of an extended code).
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_RECOVER_CHUNK = 256  # rows read per query from a damaged file; a failing chunk is re-read row by row


class OutboxBusy(RuntimeError):
    """Another program holds the outbox's lock for longer than the agent waits at start."""


@dataclass(frozen=True, slots=True)
class RecoveredRow:
    key: str
    payload: str  # the wire JSON as it was stored
    closed_at: datetime


def quarantined_files(path: pathlib.Path) -> list[pathlib.Path]:
    """Corrupt outbox files moved aside (oldest first): kept for store IT, never deleted by echeck."""
    pattern = f"{path.stem}{CORRUPT_MARK}*{path.suffix}"
    return sorted(p for p in path.parent.glob(pattern) if p.is_file())


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corruption(exc: sqlite3.Error) -> bool:
    return _code(exc) in _CORRUPT_CODES


def is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in _BUSY_CODES


def integrity_problem(path: pathlib.Path, busy_timeout_s: float, wait_s: float) -> str | None:
    """None when the file is healthy; what is wrong when SQLite confirms corruption.

    A lock is waited out up to `wait_s` (then `OutboxBusy`); any other error (permissions, I/O) is raised
    as it is: neither is a reason to move the file aside.
    """
    deadline = time.monotonic() + wait_s
    warned = False
    while True:
        try:
            return _quick_check(path, max(0.1, min(busy_timeout_s, deadline - time.monotonic())))
        except sqlite3.Error as exc:
            if is_corruption(exc):
                return str(exc)
            if not is_busy(exc):
                raise
            if time.monotonic() >= deadline:
                raise OutboxBusy(
                    f"the outbox {path} stayed locked by another program for {wait_s:.0f} s: "
                    "close the program that holds it (sqlite3 shell, backup tool, a second agent)"
                ) from exc
            if not warned:
                log.warning("the outbox is locked by another program: waiting", extra={"outbox": str(path)})
                warned = True
            time.sleep(0.2)


def _quick_check(path: pathlib.Path, busy_timeout_s: float) -> str | None:
    # A plain sqlite3 connection: no pragmas that write (journal_mode) before the check has passed.
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=busy_timeout_s)
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    finally:
        conn.close()
    verdict = "; ".join(str(r[0]) for r in rows[:5])
    return None if verdict == "ok" else f"quick_check: {verdict}"


def quarantine_if_corrupt(
    path: pathlib.Path, busy_timeout_s: float = 10.0, wait_s: float = 120.0
) -> pathlib.Path | None:
    """Move a corrupt outbox (and its -wal/-shm) aside, intact; returns where it went, or None if healthy.

    The agent then starts on a new outbox, into which the readable pending receipts of the moved file are
    copied: the till keeps working and nothing that can still be read is lost.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    problem = integrity_problem(path, busy_timeout_s, wait_s)
    if problem is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.stem}{CORRUPT_MARK}{stamp}{path.suffix}")
    for suffix in ("", *SIDE_FILES):
        source = pathlib.Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{target}{suffix}")
    log.critical(
        "OUTBOX CORRUPT: moved aside intact, a new outbox is started",
        extra={"corrupt_file": str(target), "problem": problem},
    )
    return target


def readable_pending(path: pathlib.Path) -> list[RecoveredRow]:
    """The pending receipts that can still be read from a quarantined file, oldest first.

    Read from a scratch copy (SQLite may write to a database it reads: WAL recovery, -shm), chunk by chunk
    so that a damaged page costs the rows on it, not the whole file. A row counts only when its payload is
    a receipt whose key is the row's key.
    """
    with tempfile.TemporaryDirectory(prefix=".recover-", dir=path.parent) as scratch:
        copy = pathlib.Path(scratch) / path.name
        shutil.copyfile(path, copy)
        wal = pathlib.Path(f"{path}-wal")
        if wal.exists():
            shutil.copyfile(wal, f"{copy}-wal")
        try:
            conn = sqlite3.connect(copy)
        except sqlite3.Error:
            return []
        try:
            return [row for row in _rows(conn) if row is not None]
        finally:
            conn.close()


def _rows(conn: sqlite3.Connection) -> Iterator[RecoveredRow | None]:
    select = "SELECT id, key, payload, closed_at FROM outbox WHERE state = 'pending'"
    try:
        top = conn.execute("SELECT max(id) FROM outbox").fetchone()[0]
    except sqlite3.Error:
        top = None
    if top is None:
        try:  # AUTOINCREMENT's counter, kept in its own table: the next guess at the last id
            top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0]
        except (sqlite3.Error, TypeError):
            return
    for low in range(1, int(top) + 1, _RECOVER_CHUNK):
        high = low + _RECOVER_CHUNK - 1
        try:
            chunk = conn.execute(f"{select} AND id BETWEEN ? AND ? ORDER BY id", (low, high)).fetchall()
        except sqlite3.Error:
            chunk = []
            for row_id in range(low, high + 1):
                try:
                    chunk += conn.execute(f"{select} AND id = ?", (row_id,)).fetchall()
                except sqlite3.Error:
                    continue  # this row is on a damaged page
        for _id, key, payload, closed_at in chunk:
            yield _valid(key, payload, closed_at)


def _valid(key: object, payload: object, closed_at: object) -> RecoveredRow | None:
    if not isinstance(key, str) or not isinstance(payload, str):
        return None
    try:
        receipt = receipt_from_wire(json.loads(payload))
    except (ValueError, ValidationError):
        return None
    if str(receipt.key) != key:
        return None
    try:
        moment = datetime.fromisoformat(str(closed_at))
    except ValueError:
        moment = datetime.now(UTC)
    return RecoveredRow(key, payload, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
