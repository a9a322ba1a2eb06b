"""Pages kept rendered (cloud.pages.kept) written after they are answered, many in one statement.

On PostgreSQL a first fetch's page is handed here once its answer is on its way: the pages that arrive
within `LINGER_S` (0.2 s) of the first, or while a statement runs, go together in one statement (one
round trip, one commit, one compiled statement for many pages). A page written alone cost ~0.6 ms of
Python and ~0.4 ms of PostgreSQL; in a statement of fifty, ~0.06 and ~0.06 ms (with lz4, migration 0020;
docs/performance.md). A kept page is a cache: a statement that fails is logged and its pages are
rendered again at their next fetch; nothing a buyer or head office sees depends on it.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from cloud.logs import event
from cloud.pages.kept import upsert

log = logging.getLogger("cloud.pages")

# Pages in one statement at most: ~12 KB each, a few MB of text.
MAX_ROWS = 200
# How long the first page waits for company: a statement of one page costs ~6× a page's share of a
# statement of a hundred (docs/performance.md), and nobody waits on a kept page being written.
LINGER_S = 0.2


class KeptWriter:
    """One per app and event loop; `put` from the loop's coroutines only (it is not thread-safe)."""

    def __init__(self, engine: Engine, max_rows: int = MAX_ROWS, linger_s: float = LINGER_S) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.linger_s = linger_s
        # By receipt: a page fetched twice before it is written is written once (the later render), and
        # one statement never upserts a row twice (which PostgreSQL refuses).
        self._rows: dict[int, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    def put(self, row: dict[str, Any]) -> None:
        self._rows[row["receipt_id"]] = row
        if self._task is None:
            self._task = asyncio.create_task(self._drain())

    async def flush(self) -> None:
        """Until every page handed over so far is written (or its statement failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.linger_s)
            while self._rows:
                ids = list(self._rows)[: self.max_rows]
                rows = [self._rows.pop(i) for i in ids]
                try:
                    await run_in_threadpool(self._write, rows)
                except Exception as exc:  # a cache: the pages are rendered again at their next fetch
                    event(
                        log, logging.WARNING, "pages.keep_failed", pages=len(rows), error=type(exc).__name__
                    )
        finally:
            self._task = None  # in the same step as the empty `while` check: no row slips in between

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            upsert(conn, rows)
