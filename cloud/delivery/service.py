"""Delivery's service functions: what ingest, the routers, the CLI and the worker call.

Each takes a Session; the ones that finish a unit of work commit it (`create_deliveries` leaves the commit to
its job, so the deliveries and their step jobs appear together).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cloud.db.types import utcnow
from cloud.delivery import config as delivery_config
from cloud.delivery import store
from cloud.delivery.cascade import AttemptStatus, Channel, Delivery, Status, plan, reported
from cloud.delivery.channels.base import ProviderReport
from cloud.delivery.config import TenantDelivery
from cloud.delivery.jobs import STEP
from cloud.delivery.message import new_link_token
from cloud.delivery.models import AttemptRow, DeliveryRow, OptOut, PushDevice, ReportRow
from cloud.errors import InvalidInput
from cloud.ingest.models import ReceiptRow
from cloud.logs import event
from cloud.privacy.keys import IdentityKeys
from receipts import BuyerContact
from receipts.contact import ContactKind, InvalidContact

log = logging.getLogger("cloud.delivery")
ANY_CHANNEL = "*"


def create_deliveries(session: Session, receipt_ids: Iterable[int], now: datetime) -> int:
    """One NEW delivery per given receipt that has a contact, due now, with its step job. Idempotent (a
    receipt that already has its delivery is skipped). Not committed. Returns how many were created.

    Planning (which channels) happens in the step, so this stays a handful of statements per batch.
    """
    receipts = session.execute(
        sa.select(ReceiptRow.id, ReceiptRow.tenant_id, ReceiptRow.store_id).where(  # type: ignore[call-overload]
            ReceiptRow.id.in_(list(receipt_ids)),  # type: ignore[union-attr]
            ReceiptRow.contact_kind.is_not(None),  # type: ignore[union-attr]
        )
    ).all()
    rows = [
        {
            "receipt_id": rid,
            "tenant_id": tenant_id,
            "store_id": store_id,
            "link_token": new_link_token(),
            "status": Status.NEW.value,
            "steps": "",
            "skipped": "",
            "step_index": 0,
            "due_at": now,
            "version": 0,
            "created_at": now,
        }
        for rid, tenant_id, store_id in receipts
    ]
    if not rows:
        return 0
    table: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
    insert = sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert
    created = session.execute(
        insert(table).on_conflict_do_nothing(index_elements=["receipt_id"]).returning(table.c.id), rows
    )
    ids = [delivery_id for (delivery_id,) in created]
    STEP.schedule_new(session, ({"delivery_id": i} for i in ids), now)
    return len(ids)


def _contact(text: str) -> BuyerContact:
    try:
        return BuyerContact(ContactKind.EMAIL if "@" in text else ContactKind.PHONE, text)
    except InvalidContact as exc:
        raise InvalidInput(str(exc)) from exc


def register_device(session: Session, keys: IdentityKeys, tenant_id: int, contact: str, token: str) -> bool:
    """The retailer's app backend says: this buyer (phone or e-mail) has the app with this FCM token."""
    if not 20 <= len(token) <= 512:
        raise InvalidInput("token must be an FCM registration token (20–512 characters)")
    buyer = _contact(contact)
    existing = session.exec(
        select(PushDevice).where(PushDevice.tenant_id == tenant_id, PushDevice.token == token)
    ).first()
    if existing:
        existing.contact_hash, existing.created_at = keys.hash(buyer.value), _now()
        session.add(existing)
    else:
        session.add(
            PushDevice(
                tenant_id=tenant_id, contact_hash=keys.hash(buyer.value), token=token, created_at=_now()
            )
        )
    session.commit()
    event(log, logging.INFO, "push.device_registered", tenant_id=tenant_id, contact=buyer.masked)
    return existing is None


def forget_device(session: Session, tenant_id: int, token: str) -> None:
    session.execute(
        sa.delete(PushDevice).where(col(PushDevice.tenant_id) == tenant_id, col(PushDevice.token) == token)
    )


def add_opt_out(
    session: Session, keys: IdentityKeys, tenant_id: int, contact: str, channel: Channel | None
) -> None:
    buyer = _contact(contact)
    name = channel.value if channel else ANY_CHANNEL
    keyed = keys.hash(buyer.value)
    exists = session.exec(
        select(OptOut).where(
            OptOut.tenant_id == tenant_id, OptOut.contact_hash == keyed, OptOut.channel == name
        )
    ).first()
    if not exists:
        session.add(OptOut(tenant_id=tenant_id, contact_hash=keyed, channel=name, created_at=_now()))
        session.commit()
    event(log, logging.INFO, "optout.added", tenant_id=tenant_id, contact=buyer.masked, channel=name)


def push_token(session: Session, tenant_id: int, contact_hash: str) -> str | None:
    """The newest app installation of this buyer."""
    return session.exec(
        select(PushDevice.token)
        .where(PushDevice.tenant_id == tenant_id, PushDevice.contact_hash == contact_hash)
        .order_by(PushDevice.id.desc())  # type: ignore[union-attr]
    ).first()


def available_channels(session: Session, cfg: TenantDelivery, receipt: ReceiptRow) -> frozenset[Channel]:
    """Channels the tenant has configured, that fit the buyer's contact, minus the buyer's opt-outs."""
    if not receipt.contact_kind or not receipt.contact_hash:
        return frozenset()
    opted = set(
        session.exec(
            select(OptOut.channel).where(
                OptOut.tenant_id == cfg.tenant_id, OptOut.contact_hash == receipt.contact_hash
            )
        )
    )
    if ANY_CHANNEL in opted:
        return frozenset()
    fits = {Channel.EMAIL} if receipt.contact_kind == ContactKind.EMAIL else {Channel.VIBER, Channel.SMS}
    if push_token(session, cfg.tenant_id, receipt.contact_hash):
        fits.add(Channel.PUSH)
    return frozenset(c for c in fits if c in cfg.channels and c.value not in opted)


def plan_delivery(
    session: Session, cfg: TenantDelivery, d: Delivery, receipt: ReceiptRow, now: datetime
) -> Delivery:
    return plan(d, now, available_channels(session, cfg, receipt), cfg.policy)


@dataclass
class ReportOutcome:
    applied: int = 0
    late: int = 0
    unknown: int = 0


def apply_reports(
    session: Session,
    tenant_id: int,
    channel: Channel,
    reports: list[ProviderReport],
    prices: dict[str, int],
    now: datetime,
) -> ReportOutcome:
    """Feed provider reports to their deliveries. Unknown message ids are recorded and logged, not errors.

    A report can overtake the worker: the provider calls back as soon as it has the message, while the
    worker is still waiting to write the message id the provider answered with. Such a report is parked
    (stored as "unknown", committed), then looked up once more; whichever of the two sides commits second
    finds the other's row, and `settle_parked` applies it exactly once (see `replay_parked`).
    """
    outcome = ReportOutcome()
    for rep in reports:
        attempt = _attempt_by_message(session, tenant_id, channel, rep.message_id)
        if attempt is None:
            parked = ReportRow(
                tenant_id=tenant_id,
                channel=channel.value,
                message_id=rep.message_id[:200],
                status=rep.status.value,
                attempt_id=None,
                effect=UNKNOWN,
                received_at=now,
            )
            session.add(parked)
            session.commit()
            attempt = _attempt_by_message(session, tenant_id, channel, rep.message_id)
            effect = _settle(session, parked.id, attempt, prices, now) if attempt is not None else UNKNOWN
            if effect == UNKNOWN:
                outcome.unknown += 1
                event(
                    log,
                    logging.WARNING,
                    "report.unknown_message",
                    tenant_id=tenant_id,
                    channel=channel,
                    message_id=rep.message_id[:80],
                    status=rep.status,
                )
            else:
                outcome.applied += effect == "applied"
                outcome.late += effect != "applied"
            continue
        record = partial(_record_report, session, tenant_id, channel, rep, attempt, prices, now)
        effect = store.retry_stale(record, session.rollback)
        outcome.applied += effect == "applied"
        outcome.late += effect == "late"
    return outcome


def _record_report(
    session: Session,
    tenant_id: int,
    channel: Channel,
    rep: ProviderReport,
    attempt: AttemptRow,
    prices: dict[str, int],
    now: datetime,
) -> str:
    """One report of a known message: through the cascade (unless it only says "accepted"), and stored."""
    effect = "progress"  # "queued", "sent to operator": nothing to decide
    if rep.status is not AttemptStatus.ACCEPTED:
        changed = _apply_one(session, attempt, rep.status, rep.detail, prices, now)
        effect = "applied" if changed else "late"
    session.add(
        ReportRow(
            tenant_id=tenant_id,
            channel=channel.value,
            message_id=rep.message_id[:200],
            status=rep.status.value,
            attempt_id=attempt.id,
            effect=effect,
            received_at=now,
        )
    )
    session.commit()
    return effect


def replay_parked(
    session: Session, tenant_id: int, channel: Channel, message_id: str, prices: dict[str, int], now: datetime
) -> int:
    """After the worker committed a provider's message id: apply the reports that arrived before it.

    Must run in a transaction after the one that wrote the message id (a report parked meanwhile is then
    seen by one side or the other). Returns how many parked reports it settled.
    """
    attempt = _attempt_by_message(session, tenant_id, channel, message_id)
    if attempt is None:
        return 0
    parked = session.exec(
        select(ReportRow.id)
        .where(
            ReportRow.tenant_id == tenant_id,
            ReportRow.channel == channel.value,
            ReportRow.message_id == message_id[:200],
            ReportRow.effect == UNKNOWN,
        )
        .order_by(ReportRow.id)  # type: ignore[arg-type]
    ).all()
    settled = 0
    for report_id in parked:
        settled += _settle(session, report_id, attempt, prices, now) != UNKNOWN
    return settled


UNKNOWN = "unknown"


def _attempt_by_message(
    session: Session, tenant_id: int, channel: Channel, message_id: str
) -> AttemptRow | None:
    return session.exec(
        select(AttemptRow)
        .where(
            AttemptRow.channel == channel.value,
            AttemptRow.message_id == message_id,
            AttemptRow.tenant_id == tenant_id,
        )
        .execution_options(populate_existing=True)
    ).first()


def _settle(
    session: Session, report_id: int | None, attempt: AttemptRow, prices: dict[str, int], now: datetime
) -> str:
    """Apply one parked report to its attempt, once: both the callback and the worker may try, so the
    delivery row is locked first and the report is applied only if it is still parked. Commits."""
    return store.retry_stale(lambda: _settle_once(session, report_id, attempt, prices, now), session.rollback)


def _settle_once(
    session: Session, report_id: int | None, attempt: AttemptRow, prices: dict[str, int], now: datetime
) -> str:
    lock = select(DeliveryRow).where(DeliveryRow.id == attempt.delivery_id).with_for_update()
    session.exec(lock.execution_options(populate_existing=True)).one()
    report = session.exec(
        select(ReportRow).where(ReportRow.id == report_id).execution_options(populate_existing=True)
    ).one()
    if report.effect != UNKNOWN:
        session.commit()
        return report.effect
    status = AttemptStatus(report.status)
    effect = "progress"
    if status is not AttemptStatus.ACCEPTED:
        when = report.received_at.isoformat(timespec="milliseconds")
        changed = _apply_one(
            session, attempt, status, f"received {when}, before the send was recorded", prices, now
        )
        effect = "applied" if changed else "late"
    report.effect, report.attempt_id = effect, attempt.id
    session.add(report)
    session.commit()
    return effect


def _apply_one(
    session: Session,
    attempt: AttemptRow,
    status: AttemptStatus,
    detail: str,
    prices: dict[str, int],
    now: datetime,
) -> bool:
    """One report through the cascade, under the delivery row's lock (not committed)."""
    row = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.id == attempt.delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    attempts = store.attempts_of(session, attempt.delivery_id)
    d = store.to_state(row, attempts)
    d2, changed = reported(d, attempt.step, now, status, detail)
    store.save(session, row, attempts, d2, prices)
    name = "report.applied" if changed else "report.recorded"
    event(
        log,
        logging.INFO,
        name,
        tenant_id=row.tenant_id,
        delivery_id=row.id,
        channel=attempt.channel,
        status=status,
        delivery_status=d2.status,
    )
    return changed


def receipt_for_link(session: Session, token: str) -> tuple[ReceiptRow, DeliveryRow] | None:
    """The receipt a message's link names. Reading it is a fetch, not an open: link previews, mail
    scanners and `curl` fetch pages too (the page's script reports a person's open: `page_opened`)."""
    row = session.exec(select(DeliveryRow).where(DeliveryRow.link_token == token)).first()
    if row is None:
        return None
    receipt = session.get(ReceiptRow, row.receipt_id)
    assert receipt is not None
    return receipt, row


def page_opened(session: Session, receipt_id: int, now: datetime) -> bool:
    """A person opened the receipt's e-receipt page (the real "opened"): stamp the delivery once, and when
    its current step waits for its message to be delivered (the push step's "delivered or opened"), the
    open is that step's success: reading the receipt's link means the message arrived. Commits. Returns
    whether the cascade changed."""

    def open_once() -> bool:
        row = session.exec(
            select(DeliveryRow)
            .where(DeliveryRow.receipt_id == receipt_id)
            .execution_options(populate_existing=True)
        ).first()
        if row is None or row.opened_at is not None:
            session.commit()
            return False
        changed = False
        if row.status == Status.WAITING.value:
            attempts = store.attempts_of(session, row.id or 0)
            current = attempts.get(row.step_index)
            if current is not None and current.status == AttemptStatus.ACCEPTED.value:
                prices = delivery_config.load(session, row.tenant_id).prices
                # re-reads the row under its lock (populate_existing): stamp the open after it
                changed = _apply_one(
                    session, current, AttemptStatus.READ, "the buyer opened the e-receipt page", prices, now
                )
        row.opened_at = now
        session.add(row)
        session.commit()
        event(log, logging.INFO, "receipt.opened", tenant_id=row.tenant_id, delivery_id=row.id)
        return changed

    return store.retry_stale(open_once, session.rollback)


def _now() -> datetime:
    return utcnow()
