"""An outbox file written by the SQLModel-declared table (before the outbox became SQLAlchemy Core) opens
unchanged: same schema, same timestamp storage, its pending rows still go out."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sync.outbox import Outbox

# What SQLModel's create_all wrote (sqlite_master), and a row as its UTCDateTime stored it.
SQLMODEL_SCHEMA = [
    "CREATE TABLE outbox (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "
    '\n\t"key" VARCHAR(64) NOT NULL, '
    "\n\tpayload VARCHAR NOT NULL, "
    "\n\tstate VARCHAR(16) NOT NULL, "
    "\n\treason VARCHAR, "
    "\n\tclosed_at DATETIME NOT NULL, "
    "\n\tacked_at DATETIME, "
    "\n\tattempts INTEGER NOT NULL, "
    "\n\tlast_error VARCHAR, "
    '\n\tUNIQUE ("key")\n)',
    "CREATE INDEX ix_outbox_state_id ON outbox (state, id)",
    "CREATE INDEX ix_outbox_state_acked_at ON outbox (state, acked_at)",
]


# Added beside the outbox table in schema 2 (the POS's checkouts, recovered corrupt files).
ADDED_TABLES = {"checkouts", "recovered_files", "ix_checkouts_open_updated"}


def _schema(path: Path) -> list[tuple[str, str]]:
    """The outbox table's schema (what the SQLModel era wrote), without the tables added later."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    return [(name, sql) for name, sql in rows if name not in ADDED_TABLES]


def _names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


def test_sqlmodel_era_outbox_opens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as conn:
        for ddl in SQLMODEL_SCHEMA:
            conn.execute(ddl)
        conn.execute(
            "INSERT INTO outbox (key, payload, state, closed_at, attempts) VALUES (?, ?, 'pending', ?, 0)",
            ("9251440300227597:1:100000000", '{"total": 100}', "2026-11-23 09:00:00.250000"),
        )
    before = _schema(path)
    with Outbox(path) as box:
        (entry,) = box.pending(10)
        assert entry.key == "9251440300227597:1:100000000"
        assert entry.closed_at == datetime(2026, 11, 23, 9, 0, 0, 250000, tzinfo=UTC)
        assert entry.payload == {"total": 100}
        box.mark_acked([entry.id], at=datetime(2026, 11, 23, 9, 0, 2, 250000, tzinfo=UTC))
        assert box.ack_latencies() == [2.0]
        assert box.stats().acked == 1
    assert _schema(path) == before
    assert _names(path) >= ADDED_TABLES
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)


def test_new_outbox_has_the_sqlmodel_schema(tmp_path: Path) -> None:
    reference = tmp_path / "reference.sqlite3"
    with sqlite3.connect(reference) as conn:
        for ddl in SQLMODEL_SCHEMA:
            conn.execute(ddl)
    Outbox(tmp_path / "new.sqlite3").close()
    assert _schema(tmp_path / "new.sqlite3") == _schema(reference)
