"""The event store on real SQLite and PostgreSQL: each event once by its id, in the caller's transaction."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.tracking.events import EventType, Identifier, IdentifierKind, TrackedEvent, new_event_id
from cloud.tracking.store import events_where, forget_keys_before, record_events

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HASH = "ab" * 32


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _tenant(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        tenant, _key = tenants.create_tenant(session, f"T-{uuid.uuid4().hex[:8]}")
        session.commit()
        assert tenant.id is not None
        return tenant.id


def _event(tenant_id: int, **kw) -> TrackedEvent:  # type: ignore[no-untyped-def]
    defaults = {"event_id": new_event_id(), "tenant_id": tenant_id, "type": EventType.PAGEVIEW}
    defaults["received_at"] = NOW
    return TrackedEvent(**(defaults | kw))


def test_an_event_is_stored_once_however_often_it_arrives(engine) -> None:  # type: ignore[no-untyped-def]
    tenant = _tenant(engine)
    first = _event(
        tenant,
        browser_id="b1",
        utm={"source": "yandex", "medium": "cpc"},
        identifiers=(Identifier(IdentifierKind.EMAIL, HASH),),
        properties={"rating": 5},
    )
    second = _event(tenant, type=EventType.RECEIPT_FETCH, receipt_id=7, bot="telegram preview")
    with Session(engine) as session:
        assert record_events(session, [first, first, second]) == [first, second]
        session.commit()
    with Session(engine) as session:  # a retried batch, and the same id with other content
        assert record_events(session, [first, _event(tenant, event_id=second.event_id)]) == []
        session.commit()
    with Session(engine) as session:
        stored = events_where(session, tenant)
    assert sorted(stored, key=lambda e: e.type) == [first, second]  # every field comes back as it went in
    with Session(engine) as session:
        assert events_where(session, tenant, receipt_id=7) == [second]
        assert events_where(session, tenant, types=[EventType.PAGEVIEW]) == [first]
        assert events_where(session, tenant, browser_id="b1") == [first]


def test_a_failed_transaction_claims_no_ids(engine) -> None:  # type: ignore[no-untyped-def]
    tenant = _tenant(engine)
    event = _event(tenant)
    with Session(engine) as session:
        record_events(session, [event])
        session.rollback()
    with Session(engine) as session:
        assert record_events(session, [event]) == [event]
        session.commit()


def test_without_commit_wait_the_insert_turns_off_the_wal_wait_for_its_transaction_only(engine) -> None:  # type: ignore[no-untyped-def]
    tenant = _tenant(engine)
    event = _event(tenant)
    with Session(engine) as session:
        pg = session.get_bind().dialect.name == "postgresql"
        setting = "SHOW synchronous_commit"
        assert record_events(session, [event], wait_for_commit=False) == [event]
        if pg:
            assert session.execute(sa.text(setting)).scalar() == "off"
        session.commit()
        if pg:
            assert session.execute(sa.text(setting)).scalar() == "on"
        assert record_events(session, [event], wait_for_commit=False) == []  # a resend: still no wait
        if pg:
            assert session.execute(sa.text(setting)).scalar() == "off"
        session.rollback()
    with Session(engine) as session:
        assert events_where(session, tenant) == [event]


def test_ids_are_forgotten_after_the_dedup_window(engine) -> None:  # type: ignore[no-untyped-def]
    tenant = _tenant(engine)
    old = _event(tenant, received_at=NOW - timedelta(days=40))
    with Session(engine) as session:
        record_events(session, [old])
        assert forget_keys_before(session, NOW - timedelta(days=35)) >= 1
        session.commit()


def test_events_refuse_what_the_contract_forbids() -> None:
    with pytest.raises(ValueError, match="uuid"):
        _event(1, event_id="not-a-uuid")
    with pytest.raises(ValueError, match="hash"):
        Identifier(IdentifierKind.PHONE, "79161234567")
    with pytest.raises(ValueError, match="utm"):
        _event(1, utm={"evil": "x"})
    with pytest.raises(ValueError, match="aware"):
        _event(1, received_at=datetime(2026, 1, 1))
