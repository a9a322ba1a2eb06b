"""Checking and redeeming a code for the POS and the CRM: exactly once.

The redemption is one conditional UPDATE (`... WHERE redeemed_at IS NULL AND starts_at <= now AND
expires_at > now`): on PostgreSQL a second concurrent UPDATE waits for the first's row lock and then finds
the condition false; on SQLite writers are serialized. Whoever changed the row redeemed the code; everyone
else reads the row and learns why not (already redeemed, expired, not started). A retry with the same
idempotency key gets the first redemption back instead of an error.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.accounts.models import Register, Store
from cloud.errors import NotFound, PromoExpired, PromoNotStarted, PromoRedeemed, PromoUnknown
from cloud.ingest.models import ReceiptRow
from cloud.logs import event
from cloud.pages.promo import codes
from cloud.pages.promo.jobs import REMINDER
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.pages.promo.rules import Rule
from cloud.pages.promo.service import rule_of

log = logging.getLogger("cloud.pages.promo")
VALID, EXPIRED, NOT_STARTED, REDEEMED = (
    "valid",
    "promo_expired",
    "promo_not_started",
    "promo_already_redeemed",
)


@dataclass(frozen=True, slots=True)
class CodeState:
    """A code as the POS sees it: whether it can be used now, and what it gives."""

    code: str
    status: str  # valid | promo_expired | promo_not_started | promo_already_redeemed
    rule: Rule
    starts_at: datetime
    expires_at: datetime
    issued_receipt_id: int
    redeemed_at: datetime | None

    @property
    def valid(self) -> bool:
        return self.status == VALID


@dataclass(frozen=True, slots=True)
class Redemption:
    state: CodeState
    redeemed_at: datetime
    replayed: bool  # the same idempotency key redeemed it before: this is that redemption


@dataclass(frozen=True, slots=True)
class Purchase:
    """The purchase that uses the code: where, and (when the POS knows it) which receipt."""

    store_id: int
    register_id: int | None = None
    receipt_id: int | None = None  # the cloud's receipt id, when the purchase's receipt has synced
    reference: str | None = None  # the POS's or CRM's own id of the purchase


def status_of(row: PromoCode, now: datetime) -> str:
    if row.redeemed_at is not None:
        return REDEEMED
    if row.expires_at <= now:
        return EXPIRED
    if row.starts_at > now:
        return NOT_STARTED
    return VALID


def _find(session: Session, tenant_id: int, text: str) -> tuple[PromoCode, PromoRule]:
    code = codes.normalize(text)
    found = session.exec(
        select(PromoCode, PromoRule)
        .join(PromoRule, PromoRule.id == PromoCode.rule_id)  # type: ignore[arg-type]
        .where(PromoCode.tenant_id == tenant_id, PromoCode.code == code)
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise PromoUnknown("такого промокода нет: проверьте, что он набран без ошибок")
    return found[0], found[1]


def _state(row: PromoCode, rule: PromoRule, now: datetime) -> CodeState:
    return CodeState(
        code=row.code,
        status=status_of(row, now),
        rule=rule_of(rule),
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        issued_receipt_id=row.receipt_id,
        redeemed_at=row.redeemed_at,
    )


def check(session: Session, tenant_id: int, code: str, now: datetime) -> CodeState:
    """What the code gives and whether it can be used now; PromoUnknown when the tenant has no such code."""
    row, rule = _find(session, tenant_id, code)
    return _state(row, rule, now)


def _check_purchase(session: Session, tenant_id: int, purchase: Purchase) -> None:
    store = session.get(Store, purchase.store_id)
    if store is None or store.tenant_id != tenant_id:
        raise NotFound(f"store {purchase.store_id} not found for this tenant")
    if purchase.register_id is not None:
        register = session.get(Register, purchase.register_id)
        if register is None or register.store_id != purchase.store_id:
            raise NotFound(f"register {purchase.register_id} not found in store {purchase.store_id}")
    if purchase.receipt_id is not None:
        receipt = session.get(ReceiptRow, purchase.receipt_id)
        if receipt is None or receipt.tenant_id != tenant_id:
            raise NotFound(f"receipt {purchase.receipt_id} not found for this tenant")


def _refusal(state: CodeState) -> Exception:
    if state.status == REDEEMED and state.redeemed_at is not None:
        return PromoRedeemed(f"промокод уже использован {state.redeemed_at:%d.%m.%Y %H:%M} UTC")
    if state.status == EXPIRED:
        return PromoExpired(f"срок действия промокода истёк {state.expires_at:%d.%m.%Y %H:%M} UTC")
    return PromoNotStarted(f"промокод начнёт действовать {state.starts_at:%d.%m.%Y %H:%M} UTC")


def redeem(
    session: Session,
    tenant_id: int,
    code: str,
    purchase: Purchase,
    idempotency_key: str,
    who: str,
    now: datetime,
) -> Redemption:
    """Redeem the code for `purchase`, once. Raises PromoUnknown, PromoExpired, PromoNotStarted or
    PromoRedeemed; the same `idempotency_key` again returns the first redemption (`replayed`). Commits."""
    row, rule = _find(session, tenant_id, code)
    _check_purchase(session, tenant_id, purchase)
    table: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
    changed = session.execute(
        sa.update(table)
        .where(
            table.c.id == row.id,
            table.c.redeemed_at.is_(None),
            table.c.starts_at <= now,
            table.c.expires_at > now,
        )
        .values(
            redeemed_at=now,
            redeem_key=idempotency_key,
            redeemed_store_id=purchase.store_id,
            redeemed_register_id=purchase.register_id,
            redeemed_receipt_id=purchase.receipt_id,
            redeemed_purchase=purchase.reference,
            redeemed_by=who[:120],
        )
    )
    won = changed.rowcount == 1  # type: ignore[attr-defined]
    if won:
        REMINDER.cancel(session, {"code_id": row.id})  # nothing to remind of any more
    session.commit()
    row, rule = _find(session, tenant_id, code)  # as stored now, whoever won
    state = _state(row, rule, now)
    if won:
        event(
            log,
            logging.INFO,
            "promo.redeemed",
            tenant_id=tenant_id,
            code_id=row.id,
            store_id=purchase.store_id,
        )
        return Redemption(state, now, replayed=False)
    if row.redeemed_at is not None and row.redeem_key == idempotency_key:
        return Redemption(state, row.redeemed_at, replayed=True)
    event(log, logging.INFO, "promo.refused", tenant_id=tenant_id, code_id=row.id, status=state.status)
    raise _refusal(state)
