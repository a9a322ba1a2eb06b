"""The collector's writer on real PostgreSQL: browsers' batches that meet share one statement, each keeps its
own events and identity job, and a batch PostgreSQL refuses fails alone."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.jobs import Job
from cloud.tracking.batch_store import Batch, collector_engine
from cloud.tracking.events import EventType, Identifier, IdentifierKind, TrackedEvent, new_event_id
from cloud.tracking.store import events_where
from cloud.tracking.writer import BatchWriter

NOW = datetime.now(UTC)
LINKED = Job("test.linked")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the writer is PostgreSQL's (SQLite stores a batch in a session)")
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _tenant(engine: Engine) -> int:
    with Session(engine) as session:
        tenant, _key = tenants.create_tenant(session, f"T-{uuid.uuid4().hex[:8]}")
        session.commit()
        assert tenant.id is not None
        return tenant.id


def _event(tenant_id: int, **kw: Any) -> TrackedEvent:
    return TrackedEvent(
        **(
            {
                "event_id": new_event_id(),
                "tenant_id": tenant_id,
                "type": EventType.PAGEVIEW,
                "received_at": NOW,
            }
            | kw
        )
    )


def _batch(events: list[TrackedEvent]) -> Batch:
    links = [bool(e.identifiers) for e in events]
    return Batch(events, links, [LINKED.deferred_row({"tenant_id": events[0].tenant_id})])


def _jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            row[0]
            for row in conn.execute(sa.text("SELECT args FROM job WHERE name = :n"), {"n": LINKED.name})
        ]


def test_batches_that_meet_share_a_statement_and_keep_their_own_events_and_jobs(engine: Engine) -> None:
    shop, other = _tenant(engine), _tenant(engine)
    identify = _event(
        shop, type=EventType.IDENTIFY, identifiers=(Identifier(IdentifierKind.EMAIL, "ab" * 32),)
    )
    view = _event(shop)
    elsewhere = _event(other)
    resent = _event(other)
    writes = collector_engine(engine.url.render_as_string(hide_password=False), connections=2)
    statements: list[int] = []  # a statement per connection taken from the pool
    sa.event.listen(writes, "checkout", lambda *_a: statements.append(1))

    async def post() -> list[list[str]]:
        writer = BatchWriter(writes, statements=1)
        first = asyncio.ensure_future(writer.write(_batch([resent])))
        for _ in range(3):  # it goes at once (into a thread); the three below wait for it, then go together
            await asyncio.sleep(0)
        return await asyncio.gather(
            first,
            writer.write(_batch([identify, view])),
            writer.write(_batch([elsewhere, resent])),
            writer.write(_batch([view])),  # the same event from another browser's batch: stored once
        )

    try:
        stored = asyncio.run(post())
    finally:
        writes.dispose()
    assert stored == [[resent.event_id], [identify.event_id, view.event_id], [elsewhere.event_id], []]
    assert len(statements) == 2
    with Session(engine) as session:
        assert {e.event_id for e in events_where(session, shop)} == {identify.event_id, view.event_id}
        assert {e.event_id for e in events_where(session, other)} == {elsewhere.event_id, resent.event_id}
    # Only the batch with something identity links queued its job, with its own new events.
    assert _jobs(engine) == [{"tenant_id": shop, "event_ids": [identify.event_id, view.event_id]}]


def test_a_batch_postgresql_refuses_fails_alone(engine: Engine) -> None:
    shop = _tenant(engine)
    good = _event(shop)
    poison = _event(shop, url="https://shop.example/\x00")  # text in PostgreSQL holds no NUL character
    writes = collector_engine(engine.url.render_as_string(hide_password=False), connections=2)

    async def post() -> list[list[str] | BaseException]:
        writer = BatchWriter(writes, statements=1)
        warm = writer.write(_batch([_event(shop)]))
        return await asyncio.gather(
            warm, writer.write(_batch([poison])), writer.write(_batch([good])), return_exceptions=True
        )

    try:
        _warm, refused, stored = asyncio.run(post())
    finally:
        writes.dispose()
    assert isinstance(refused, Exception)
    assert stored == [good.event_id]
    with Session(engine) as session:
        assert poison.event_id not in {e.event_id for e in events_where(session, shop)}


def test_a_batch_written_right_after_the_last_statement_is_stored(engine: Engine) -> None:
    """The page's case: a fetch written by a coroutine the previous statement has just woken. It found that
    statement's finished drain still counted and waited for ever (the benchmark's last requests hung)."""
    shop = _tenant(engine)
    writes = collector_engine(engine.url.render_as_string(hide_password=False), connections=2)

    async def post() -> list[list[str]]:
        writer = BatchWriter(writes, statements=1)
        async with asyncio.timeout(10):  # not `wait_for`: its own task would wake this one a step later
            return [await writer.write(_batch([_event(shop)])) for _ in range(5)]

    try:
        stored = asyncio.run(post())
    finally:
        writes.dispose()
    assert [len(ids) for ids in stored] == [1] * 5
