"""The outbox's facts read straight from its file, read-only: for `status` and `doctor` when the agent's
own view is not at hand (agent stopped) or must not be trusted (corruption). Opening it never changes it:
no migration, no quarantine, no journal mode switch.
"""

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sync.quarantine import quarantined_files

BUSY_S = 5.0


@dataclass(frozen=True)
class OutboxFacts:
    exists: bool
    problem: str | None = None  # SQLite cannot read it, or quick_check finds damage
    pending: int = 0
    acked: int = 0
    rejected: int = 0
    oldest_pending_at: datetime | None = None
    last_acked_at: datetime | None = None
    size_bytes: int = 0
    quarantined: list[str] = field(default_factory=list)


def probe(path: Path, check_integrity: bool = False) -> OutboxFacts:
    moved_aside = [p.name for p in quarantined_files(path)]
    if not path.exists() or path.stat().st_size == 0:
        return OutboxFacts(exists=False, quarantined=moved_aside)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_S)
    except sqlite3.Error as exc:
        return OutboxFacts(exists=True, problem=f"cannot open: {exc}", quarantined=moved_aside)
    try:
        if check_integrity:
            verdict = "; ".join(str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()[:5])
            if verdict != "ok":
                return OutboxFacts(exists=True, problem=f"quick_check: {verdict}", quarantined=moved_aside)
        counts = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        oldest = conn.execute("SELECT min(closed_at) FROM outbox WHERE state = 'pending'").fetchone()[0]
        last = conn.execute("SELECT max(acked_at) FROM outbox WHERE state = 'acked'").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.Error as exc:  # "file is not a database", "malformed", "no such table"
        return OutboxFacts(exists=True, problem=str(exc), quarantined=moved_aside)
    finally:
        conn.close()
    return OutboxFacts(
        exists=True,
        pending=counts.get("pending", 0),
        acked=counts.get("acked", 0),
        rejected=counts.get("rejected", 0),
        oldest_pending_at=_utc(oldest),
        last_acked_at=_utc(last),
        size_bytes=pages * page_size,
        quarantined=moved_aside,
    )


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
