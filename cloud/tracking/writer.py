"""The collector's writer on PostgreSQL: browsers' batches that arrive while a statement runs share the next.

A group commit, per server process. The first batch goes at once (no waiting for company: an idle
collector answers as fast as before); batches arriving while its statement runs wait for it, then go
together in one statement (`batch_store.record_batches`). Under load a statement carries several browsers'
batches for the price of one: one round trip, one thread hop, one plan, one commit. Each browser is
answered only once its own batch is committed, as before.

A statement that fails is retried one batch at a time, so a batch PostgreSQL refuses fails alone and the
others it shared the statement with are stored.
"""

import asyncio
from collections.abc import Sequence

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from cloud.tracking.batch_store import Batch, record_batches

# Events in one statement at most: a few hundred kB of JSON, well under a second of PostgreSQL's time.
MAX_EVENTS = 5_000
# Statements in flight per process: with one, every batch waits out the whole statement before it; with a
# second, a batch goes while the first waits on PostgreSQL.
STATEMENTS = 2

_Waiting = tuple[Batch, "asyncio.Future[list[str]]"]


class BatchWriter:
    """One per app and event loop; `write` from the loop's coroutines only (it is not thread-safe)."""

    def __init__(self, engine: Engine, max_events: int = MAX_EVENTS, statements: int = STATEMENTS) -> None:
        self.engine = engine
        self.max_events = max_events
        self.statements = statements
        self._waiting: list[_Waiting] = []
        self._tasks: set[asyncio.Task[None]] = set()  # kept referenced, or the loop may collect them
        # Drains still able to take a waiting batch. Not `len(self._tasks)`: a drain that has found nothing
        # left stays in that set until its done callback runs, after the coroutines its last statement woke,
        # so a batch written by one of them found the set full, started no drain and waited for ever.
        self._draining = 0

    async def write(self, batch: Batch) -> list[str]:
        """Stores `batch` (with the batches waiting beside it); returns its stored event ids."""
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, future))
        if self._draining < self.statements:
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._write(self._take())
        except BaseException as exc:  # a bug here must not leave browsers waiting for ever
            for _batch, future in self._waiting:
                if not future.done():
                    future.set_exception(exc)
            self._waiting = []
            raise
        finally:
            self._draining -= 1  # in the same step as the empty `while` check: no batch slips in between

    def _take(self) -> list[_Waiting]:
        taken, events = 0, 0
        for batch, _future in self._waiting:
            if taken and events + len(batch.events) > self.max_events:
                break
            taken, events = taken + 1, events + len(batch.events)
        out, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return out

    async def _write(self, taken: Sequence[_Waiting]) -> None:
        try:
            stored = await run_in_threadpool(record_batches, self.engine, [batch for batch, _ in taken])
        except Exception as exc:
            if len(taken) > 1:  # which batch failed is unknown: each alone, so only that one fails
                for one in taken:
                    await self._write([one])
                return
            if not taken[0][1].done():
                taken[0][1].set_exception(exc)
            return
        for (_batch, future), ids in zip(taken, stored, strict=True):
            if not future.done():  # a browser that went away cancelled its wait; its batch is stored
                future.set_result(ids)
