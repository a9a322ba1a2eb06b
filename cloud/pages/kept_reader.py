"""A message link's kept page read on the event loop (PostgreSQL), so a kept fetch needs no thread.

A fetch of a page kept and still current (cloud.pages.kept) needs one row: the receipt's and tenant's ids,
the stamp's material and the kept page. Read in the request's thread through a Session, that row cost the
ORM's hydration of the receipt, its tenant and store, a thread hop and the GIL handed between a dozen
threads: more CPU than the rest of the page. Here it is one prepared statement (`service.kept_by_link`,
compiled once) on an autocommit psycopg connection from a small async pool per process.

`kept` answers None for anything but a kept, current page (no such link, nothing kept, a stale stamp, a
promo that started): the caller then renders the page on the usual path, which reads the receipt again.
A failure here (the database gone, a full pool) is logged and is None too: the usual path then answers
as it always did, with its own errors.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

from cloud.db.engine import POSTGRES_TIMEOUTS
from cloud.logs import event
from cloud.pages import kept, service

log = logging.getLogger("cloud.pages")

# Connections per process: a statement takes ~0.2 ms of the database, so two keep a worker's loop fed; a
# third and fourth only while the others wait on a slow disk.
POOL_MIN, POOL_MAX = 2, 4
# A fetch waits this long for a pooled connection before the page goes the usual way instead.
POOL_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class KeptHit:
    receipt_id: int
    tenant_id: int
    page: kept.Kept


def conninfo_of(url: str) -> str:
    """libpq's connection string for the cloud's database URL, with the engine's timeouts unless the URL
    sets its own (cloud.db.engine.POSTGRES_TIMEOUTS)."""
    parsed = sa.make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    plain = parsed.set(query={}).render_as_string(hide_password=False)
    options = {**{k: str(v) for k, v in POSTGRES_TIMEOUTS.items()}, **{k: str(v) for k, v in query.items()}}
    return make_conninfo(plain, **options)


class KeptReader:
    """One per app process, opened and closed by the app's lifespan on its event loop."""

    def __init__(self, url: str, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        compiled = service.kept_by_link().compile(dialect=pg_psycopg.dialect())  # type: ignore[no-untyped-call]
        self._sql = str(compiled)
        self._params = {k: v.value if isinstance(v, Enum) else v for k, v in compiled.params.items()}
        self._pool = AsyncConnectionPool(
            conninfo_of(url),
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
            name="kept-pages",
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def kept(self, token: str, now: datetime) -> KeptHit | None:
        """The kept page of the link `token` when it is current, else None (see the module's doc)."""
        try:
            async with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                row = await self._row(conn, {**self._params, "token": token})
        except Exception as exc:  # the usual path answers instead, with the usual errors
            event(log, logging.WARNING, "pages.kept_read_failed", error=type(exc).__name__)
            return None
        if row is None or row[3] is None:  # no such link, or nothing kept for it
            return None
        found = kept.keeping(row[2:], now)
        if found.page is None:
            return None
        return KeptHit(row[0], row[1], found.page)

    async def _row(self, conn: AsyncConnection[Any], params: Mapping[str, Any]) -> Any:
        # Prepared at its first use on each connection: planning this statement takes the database ~8×
        # as long as running it.
        cursor = await conn.execute(self._sql, params, prepare=True)
        return await cursor.fetchone()
