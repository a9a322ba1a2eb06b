"""Weekly e-mail reports: when they go (Monday 09:00 Moscow), for which week, to whom (roles that read
reports, each in their own scope), through the tenant's e-mail channel to the fake SMTP server."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from benchmarks.support.report_data import make_chain, seed_month
from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.db import make_engine, migrate
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from cloud.jobs.models import JobRow
from cloud.reports.filters import Filters
from cloud.reports.scope import Viewer, stores_in_view
from cloud.reports.sending import sending
from cloud.reports.weekly import WEEKLY_SEND, WeeklyReports, compose, last_week, next_send
from fakes import smtp
from fakes.behaviour import Behaviour

MONDAY_9_MSK = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
STORES = [("Тверская 7", "Москва"), ("Баумана 3", "Казань")]


def test_the_next_send_is_monday_nine_in_moscow_and_covers_the_week_before() -> None:
    assert next_send(datetime(2026, 11, 29, 12, 0, tzinfo=UTC)) == MONDAY_9_MSK
    assert next_send(MONDAY_9_MSK) == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # just sent: next week
    assert next_send(datetime(2026, 11, 30, 5, 59, tzinfo=UTC)) == MONDAY_9_MSK
    assert last_week(MONDAY_9_MSK) == (date(2026, 11, 23), date(2026, 11, 29))


@pytest.fixture
def mail() -> Iterator[tuple[Behaviour, int]]:
    behaviour = Behaviour(delay_s=0.01)
    controller = smtp.start_smtp(behaviour)
    yield behaviour, controller.port
    controller.stop()


def test_each_reader_gets_their_own_scope_by_the_tenants_email_channel(
    database_url: str, mail: tuple[Behaviour, int]
) -> None:
    behaviour, port = mail
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        tenant, _ = tenants.create_tenant(s, "Хозтовары")
        assert tenant.id is not None
        tenant_id = tenant.id
        for email, role, regions in (
            ("owner@shop.example", Role.OWNER, []),
            ("kazan@shop.example", Role.ANALYST, ["Казань"]),
            ("it@shop.example", Role.STORE_IT, []),
        ):
            users.add_user(
                s, tenant_id, email, "long password 1", role, StoreScope.of([], regions), actor="t"
            )
        delivery_config.set_channel(
            s,
            tenant_id,
            Channel.EMAIL,
            {
                "host": "127.0.0.1",
                "port": port,
                "sender": "Чеки <r@shop.example>",
                "webhook_secret": "x" * 16,
            },
        )
    chain = make_chain(engine, tenant_id, STORES, registers_per_store=1)
    seed_month(engine, chain, end=MONDAY_9_MSK, days=10, receipts_per_register_day=5)
    jobs = WeeklyReports(engine, "https://cloud.example", clock=lambda: MONDAY_9_MSK)
    jobs.send({"tenant_id": tenant_id, "key": "k"})
    sent = sorted((m["to"], m["subject"]) for m in behaviour.messages)
    subject = "echeck: отправка чеков за неделю 23.11.2026 — 29.11.2026"
    assert sent == [("kazan@shop.example", subject), ("owner@shop.example", subject)]  # not store IT
    # What the Kazan analyst reads: Kazan only.
    week = Filters(since=date(2026, 11, 23), until=date(2026, 11, 29))
    with Session(engine) as s:
        kazan = {chain.stores[1]}
        letter = compose(
            sending(s, stores_in_view(s, Viewer(tenant_id, frozenset(kazan)), week), week),
            week,
            "https://cloud.example",
            "Хозтовары",
            "регионы: Казань",
        )
    assert "Баумана 3" in letter.text
    assert "Тверская 7" not in letter.text
    assert "Баумана 3" in letter.html
    assert letter.link.startswith("https://cloud.example/reports/sending?since=2026-11-23&until=2026-11-29")
    engine.dispose()


def test_planning_twice_keeps_one_waiting_send_per_tenant(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        tenants.create_tenant(s, "A")
        tenants.create_tenant(s, "B")
    jobs = WeeklyReports(
        engine, "https://cloud.example", clock=lambda: datetime(2026, 11, 25, 10, tzinfo=UTC)
    )
    jobs.plan({})
    jobs.plan({})
    with Session(engine) as s:
        waiting = s.exec(select(JobRow).where(JobRow.name == WEEKLY_SEND.name)).all()
    assert len(waiting) == 2
    assert {j.due_at for j in waiting} == {MONDAY_9_MSK}
    engine.dispose()
