"""Between the cascade's values and the delivery rows: load a `Delivery`, save it back (I/O edge)."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from cloud.delivery.cascade import Attempt, AttemptStatus, Channel, Delivery, Note, Status, Step, Success
from cloud.delivery.jobs import STEP
from cloud.delivery.models import AttemptRow, DeliveryRow

log = logging.getLogger(__name__)
T = TypeVar("T")
STALE_RETRIES = 5


def retry_stale(work: Callable[[], T], rollback: Callable[[], object] = lambda: None) -> T:
    """Run `work` (it reads the delivery rows it changes, then commits) again when another transaction
    changed one of them between its read and its write (the version check, see `DeliveryRow`)."""
    for attempt in range(1, STALE_RETRIES + 1):
        try:
            return work()
        except StaleDataError:
            rollback()
            if attempt == STALE_RETRIES:
                raise
            log.info("delivery row changed meanwhile by another transaction; applying again on the new row")
    raise AssertionError("unreachable")


def steps_from_text(text: str) -> tuple[Step, ...]:
    """The planned steps as stored (no policy validation: tests plan shorter deadlines)."""
    steps = []
    for part in filter(None, text.split(",")):
        channel, deadline, success = part.split(":")
        steps.append(Step(Channel(channel), float(deadline), Success(success)))
    return tuple(steps)


def steps_to_text(steps: tuple[Step, ...]) -> str:
    return ",".join(f"{s.channel}:{s.deadline_s:g}:{s.success}" for s in steps)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def attempts_of(session: Session, delivery_id: int) -> dict[int, AttemptRow]:
    # populate_existing: rows already in the session may predate the delivery row's lock; read them anew.
    rows = session.exec(
        select(AttemptRow)
        .where(AttemptRow.delivery_id == delivery_id)
        .execution_options(populate_existing=True)
    )
    return {r.step: r for r in rows}


def to_state(row: DeliveryRow, attempts: dict[int, AttemptRow]) -> Delivery:
    return Delivery(
        status=Status(row.status),
        steps=steps_from_text(row.steps),
        index=row.step_index,
        due_at=row.due_at,
        finished_at=row.finished_at,
        skipped=tuple(Channel(c) for c in filter(None, row.skipped.split(","))),
        attempts=tuple(
            Attempt(
                step=a.step,
                channel=Channel(a.channel),
                status=AttemptStatus(a.status),
                tries=a.tries,
                started_at=a.started_at,
                accepted_at=a.accepted_at,
                delivered_at=a.delivered_at,
                read_at=a.read_at,
                closed_at=a.closed_at,
                message_id=a.message_id,
                error=a.error,
                billed=a.price > 0,  # a free channel needs no flag: its price is 0 anyway
                history=tuple(Note(_ts(at), what) for at, what in a.history),
            )
            for a in sorted(attempts.values(), key=lambda a: a.step)
        ),
    )


def save(
    session: Session, row: DeliveryRow, attempts: dict[int, AttemptRow], d: Delivery, prices: dict[str, int]
) -> None:
    """Write `d` into the rows (not committed), and move the delivery's step job to its new `due_at` in the
    same transaction (the caller holds the row's lock). Prices are fixed when an attempt becomes billable."""
    assert row.id is not None
    row.status = d.status.value
    row.steps = steps_to_text(d.steps)
    row.skipped = ",".join(d.skipped)
    row.step_index = d.index
    row.due_at = d.due_at
    row.finished_at = d.finished_at
    row.version += 1  # always: an attempt's change alone must also fail against a concurrent writer
    if d.status is Status.DELIVERED and d.index < len(d.steps):
        row.channel = d.steps[d.index].channel.value
    for a in d.attempts:
        if row.first_accepted_at is None and a.accepted_at is not None:
            row.first_accepted_at = a.accepted_at
        r = attempts.get(a.step)
        if r is None:
            r = AttemptRow(
                delivery_id=row.id,
                tenant_id=row.tenant_id,
                step=a.step,
                channel=a.channel.value,
                status=a.status.value,
                history=[],
            )
            attempts[a.step] = r
        r.status = a.status.value
        r.tries = a.tries
        r.message_id = a.message_id
        r.error = a.error[:500] if a.error else None
        r.started_at, r.accepted_at, r.delivered_at = a.started_at, a.accepted_at, a.delivered_at
        r.read_at, r.closed_at = a.read_at, a.closed_at
        history: list[Any] = [[n.at.isoformat(), n.what] for n in a.history]
        if a.billed and r.price == 0:
            r.price = prices.get(a.channel.value, 0)
        r.history = history
        session.add(r)
    session.add(row)
    if d.due_at is None:
        STEP.cancel(session, {"delivery_id": row.id})
    else:
        STEP.schedule(session, {"delivery_id": row.id}, d.due_at)
