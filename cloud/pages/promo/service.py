"""Promo's service functions: what the page, the routers, the CLI and the worker call.

`issue_for_receipt` is the page's interface: the e-receipt's promo block asks for the receipt's code of a
rule and gets the same code every time it is opened.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.accounts import audit
from cloud.accounts.models import Tenant
from cloud.errors import NotFound
from cloud.ingest.models import ReceiptRow
from cloud.logs import event
from cloud.pages.promo import codes
from cloud.pages.promo.jobs import REMINDER
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.pages.promo.rules import Rule, seconds_between, validate

log = logging.getLogger("cloud.pages.promo")
ISSUE_TRIES = 8  # a collision is ≤ 10^-6 likely per try (rules.SPACE_FACTOR): 8 in a row never happen


@dataclass(frozen=True, slots=True)
class IssuedPromo:
    """A receipt's promo code as the page shows it."""

    code: str
    starts_at: datetime
    expires_at: datetime
    headline: str  # "−10 % на следующую покупку"


def seconds_left(promo: IssuedPromo, now: datetime) -> int:
    """Seconds until the code expires (0: expired): the countdown's start value."""
    return seconds_between(promo.expires_at, now)


def starts_in(promo: IssuedPromo, now: datetime) -> int:
    """Seconds until the code starts working (0: it works now)."""
    return seconds_between(promo.starts_at, now)


def rule_of(row: PromoRule) -> Rule:
    return Rule(
        name=row.name,
        percent=row.percent,
        amount=row.amount,
        headline=row.headline,
        categories=tuple(str(c) for c in row.categories),
        valid_days=row.valid_days,
        start_delay_h=row.start_delay_h,
        remind_before_h=row.remind_before_h,
        length=row.length,
        alphabet=row.alphabet,
        planned_codes=row.planned_codes,
        active=row.active,
    )


# -- rules (head office) ------------------------------------------------------------------------------
def save_rule(session: Session, tenant_id: int, rule: Rule, actor: str, now: datetime) -> PromoRule:
    """Create the tenant's rule of this name, or replace its settings (codes already issued keep their
    dates). Refuses a rule whose code space is too small (`rules.validate`). Audited; commits."""
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    clean = validate(rule)
    row = session.exec(
        select(PromoRule).where(PromoRule.tenant_id == tenant_id, PromoRule.name == clean.name)
    ).first()
    created = row is None
    if row is None:
        row = PromoRule(
            tenant_id=tenant_id,
            name=clean.name,
            valid_days=1,
            length=1,
            alphabet="",
            planned_codes=1,
            created_at=now,
            updated_at=now,
        )
    row.percent, row.amount, row.headline = clean.percent, clean.amount, clean.headline
    row.categories = list(clean.categories)
    row.valid_days, row.start_delay_h, row.remind_before_h = (
        clean.valid_days,
        clean.start_delay_h,
        clean.remind_before_h,
    )
    row.length, row.alphabet, row.planned_codes = clean.length, clean.alphabet, clean.planned_codes
    row.active, row.updated_at = clean.active, now
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id,
        actor,
        "promo_rule.created" if created else "promo_rule.changed",
        f"promo rule {row.name}",
        percent=row.percent,
        amount=row.amount,
        valid_days=row.valid_days,
        active=row.active,
    )
    session.commit()
    session.refresh(row)
    event(log, logging.INFO, "promo.rule_saved", tenant_id=tenant_id, rule=row.name, created=created)
    return row


def get_rule(session: Session, tenant_id: int, name: str) -> PromoRule:
    row = session.exec(
        select(PromoRule).where(PromoRule.tenant_id == tenant_id, PromoRule.name == name)
    ).first()
    if row is None:
        raise NotFound(f"promo rule {name!r} not found for this tenant (see `echeck-cloud promo list`)")
    return row


def list_rules(session: Session, tenant_id: int) -> list[PromoRule]:
    return list(
        session.exec(select(PromoRule).where(PromoRule.tenant_id == tenant_id).order_by(col(PromoRule.id)))
    )


def set_active(
    session: Session, tenant_id: int, name: str, active: bool, actor: str, now: datetime
) -> PromoRule:
    """Stop (or resume) issuing codes of a rule. Codes already issued stay valid until they expire: the
    buyer was promised them. Audited; commits."""
    row = get_rule(session, tenant_id, name)
    if row.active != active:
        row.active, row.updated_at = active, now
        session.add(row)
        audit.record(
            session,
            tenant_id,
            actor,
            "promo_rule.resumed" if active else "promo_rule.stopped",
            f"promo rule {name}",
        )
        session.commit()
        session.refresh(row)
    return row


# -- issuing (the page) -------------------------------------------------------------------------------
def _issued(row: PromoCode, rule: PromoRule) -> IssuedPromo:
    return IssuedPromo(row.code, row.starts_at, row.expires_at, rule_of(rule).title())


def active_rule(session: Session, tenant_id: int, name: str) -> PromoRule | None:
    return session.exec(
        select(PromoRule).where(
            PromoRule.tenant_id == tenant_id,
            PromoRule.name == name,
            PromoRule.active == True,  # noqa: E712
        )
    ).first()


def _existing(session: Session, receipt_id: int, rule_id: int) -> PromoCode | None:
    return session.exec(
        select(PromoCode)
        .where(PromoCode.receipt_id == receipt_id, PromoCode.rule_id == rule_id)
        .execution_options(populate_existing=True)
    ).first()


def issue_for_receipt(
    session: Session, *, tenant_id: int, receipt_id: int, rule_name: str, now: datetime
) -> IssuedPromo | None:
    """The receipt's code of the tenant's rule `rule_name`: issued on the first call (and its reminder
    scheduled), the same code on every later call. None when the tenant has no such active rule, or the
    receipt is not the tenant's. Commits (the code must be stored before a page shows it).

    Two opens of one page at once both try to insert; the unique (receipt, rule) constraint lets one win
    and the other returns the winner's code. A code that collides with another of the tenant's is drawn
    again.
    """
    return issue_with(
        session, tenant_id=tenant_id, receipt_id=receipt_id, rule_name=rule_name, now=now, draw=codes.generate
    )


def issue_with(
    session: Session,
    *,
    tenant_id: int,
    receipt_id: int,
    rule_name: str,
    now: datetime,
    draw: Callable[[str, int], str],
) -> IssuedPromo | None:
    """`issue_for_receipt` with the code generator given (`draw(alphabet, length)`): tests make codes
    collide through it."""
    rule = active_rule(session, tenant_id, rule_name)
    if rule is None or rule.id is None:
        return None
    found = _existing(session, receipt_id, rule.id)
    if found is not None:
        return _issued(found, rule)
    receipt = session.get(ReceiptRow, receipt_id)
    if receipt is None or receipt.tenant_id != tenant_id:
        return None
    shape = rule_of(rule)
    starts_at, expires_at = shape.window(now)
    for _ in range(ISSUE_TRIES):
        row = PromoCode(
            tenant_id=tenant_id,
            rule_id=rule.id,
            receipt_id=receipt_id,
            store_id=receipt.store_id,
            code=draw(shape.alphabet, shape.length),
            issued_at=now,
            starts_at=starts_at,
            expires_at=expires_at,
        )
        try:
            session.add(row)
            session.flush()
            remind_at = shape.remind_at(starts_at, expires_at)
            if remind_at is not None and remind_at > now:
                REMINDER.schedule(session, {"code_id": row.id}, remind_at, move=False)
            session.commit()
        except IntegrityError:
            session.rollback()  # only reads came before in this transaction
            found = _existing(session, receipt_id, rule.id)
            if found is not None:  # another request issued it meanwhile
                return _issued(found, rule)
            continue  # the code collided with another of the tenant's: draw again
        event(log, logging.INFO, "promo.issued", tenant_id=tenant_id, rule=rule.name, receipt_id=receipt_id)
        return _issued(row, rule)
    raise RuntimeError(
        f"promo rule {rule_name}: {ISSUE_TRIES} code collisions in a row; its space is too small"
    )
