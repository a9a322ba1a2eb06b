"""Enrollment: one-time codes that store IT issues, exchanged by an agent for a register and its token.

A code may be bound to an existing register (rotation, or moving a register to a new machine): enrolling
with it keeps the register's id and history and revokes its old tokens. So does enrolling with a store's
code while sending the register's current (or revoked) token: the same register, enrolled again.

Wrong codes are counted per client address and per code's first group, and locked out (429) before a
40-bit code can be walked.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.accounts import audit, rate_limits, register_credentials
from cloud.accounts.models import Register, Store
from cloud.credentials import code_hash, new_enrollment_code, normalize_code
from cloud.db.types import utcnow
from cloud.errors import BadRequest, Gone, InvalidInput, NotFound
from cloud.fleet.models import EnrollmentCode
from cloud.logs import event
from cloud.settings import DEFAULT_ENROLL_TTL_HOURS
from sync.protocol import EnrollResponse

log = logging.getLogger("cloud.fleet")

USED = "this enrollment code was already used; ask for a new one (`echeck-cloud enroll-code`)"
UNKNOWN = "unknown enrollment code: check it was typed as issued (e.g. K7QF-9MZC)"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # shown once to store IT; only its hash is stored
    store_id: int
    expires_at: datetime
    register_id: int | None = None  # re-enrolls this register


def issue_enrollment_code(
    session: Session,
    store_id: int,
    ttl: timedelta = timedelta(hours=DEFAULT_ENROLL_TTL_HOURS),
    *,
    actor: str = audit.CLI,
) -> IssuedCode:
    """A single-use code such as 'K7QF-9MZC' that enrolls one register into `store_id`."""
    if ttl <= timedelta(0):
        raise InvalidInput("the code's lifetime must be positive")
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id} does not exist (see `echeck-cloud store list --tenant ID`)")
    return _issue(session, store, ttl, None, actor)


def issue_rotation_code(
    session: Session,
    tenant_id: int,
    register_id: int,
    ttl: timedelta = timedelta(hours=DEFAULT_ENROLL_TTL_HOURS),
    *,
    actor: str = audit.CLI,
) -> IssuedCode:
    """A code that gives register `register_id` a new token; its old ones are revoked when it is used."""
    if ttl <= timedelta(0):
        raise InvalidInput("the code's lifetime must be positive")
    register = session.get(Register, register_id)
    if register is None or register.tenant_id != tenant_id:
        raise NotFound(f"register {register_id} not found for this tenant")
    store = session.get(Store, register.store_id)
    assert store is not None  # FK
    return _issue(session, store, ttl, register_id, actor)


def _issue(session: Session, store: Store, ttl: timedelta, register_id: int | None, actor: str) -> IssuedCode:
    assert store.id is not None
    now = utcnow()
    code = new_enrollment_code()
    row = EnrollmentCode(
        store_id=store.id,
        code_hash=code_hash(code),
        created_at=now,
        expires_at=now + ttl,
        for_register_id=register_id,
    )
    session.add(row)
    action = "register.rotation_code" if register_id else "enrollment_code.issued"
    target = f"register {register_id}" if register_id else f"store {store.id}"
    audit.record(session, store.tenant_id, actor, action, target, expires_at=row.expires_at.isoformat())
    session.commit()
    event(log, logging.INFO, action, store_id=store.id, register_id=register_id, expires_at=row.expires_at)
    return IssuedCode(code=code, store_id=store.id, expires_at=row.expires_at, register_id=register_id)


def _prefix(code: str) -> str:
    return normalize_code(code)[:4]


def enroll(
    session: Session,
    code: str,
    hostname: str = "",
    agent_version: str = "",
    client_ip: str = "?",
    previous_token: str | None = None,
) -> EnrollResponse:
    """Exchange an enrollment code for a register and its bearer token (returned once).

    `previous_token`: the token the agent had, if any; a register of the code's store that held it is
    enrolled again (same id, old tokens revoked) instead of a new register being made.
    """
    rate_limits.check(session, rate_limits.ENROLL_PER_IP, client_ip)
    rate_limits.check(session, rate_limits.ENROLL_PER_PREFIX, _prefix(code))
    row = session.exec(select(EnrollmentCode).where(EnrollmentCode.code_hash == code_hash(code))).first()
    if row is None:
        rate_limits.record_failure(session, rate_limits.ENROLL_PER_IP, client_ip)
        rate_limits.record_failure(session, rate_limits.ENROLL_PER_PREFIX, _prefix(code))
        event(log, logging.WARNING, "enrollment.unknown_code", client=client_ip)
        raise BadRequest(UNKNOWN)
    now = utcnow()
    if row.used_at is not None:
        raise Gone(USED)
    if row.expires_at <= now:
        raise Gone("this enrollment code has expired; ask for a new one (`echeck-cloud enroll-code`)")
    store = session.get(Store, row.store_id)
    assert store is not None
    assert store.id is not None
    again = row.for_register_id
    if again is None and previous_token:
        held = register_credentials.holder(session, previous_token)
        again = held.id if held is not None and held.store_id == store.id else None
    register = _register_for(session, again, store, hostname, agent_version, now)
    token = register_credentials.issue(session, register)
    # Conditional update: of two registers racing with one code, exactly one wins.
    claimed = session.execute(
        sa.update(EnrollmentCode)
        .where(EnrollmentCode.id == row.id, EnrollmentCode.used_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(used_at=now, register_id=register.id)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()
        raise Gone(USED)
    session.commit()
    assert register.id is not None
    event(
        log,
        logging.INFO,
        "register.reenrolled" if again else "register.enrolled",
        tenant_id=store.tenant_id,
        store_id=store.id,
        register_id=register.id,
        hostname=hostname,
        agent_version=agent_version,
    )
    return EnrollResponse(tenant_id=store.tenant_id, store_id=store.id, register_id=register.id, token=token)


def _register_for(
    session: Session, again: int | None, store: Store, hostname: str, agent_version: str, now: datetime
) -> Register:
    """A new register, or register `again` with its old tokens revoked."""
    assert store.id is not None
    if again is None:
        register = Register(
            tenant_id=store.tenant_id,
            store_id=store.id,
            hostname=hostname,
            agent_version=agent_version,
            enrolled_at=now,
        )
        session.add(register)
        session.flush()
        return register
    existing = session.get(Register, again)
    assert existing is not None  # FK
    assert existing.id is not None
    register_credentials.revoke_tokens(session, existing.id, "replaced")
    existing.hostname = hostname or existing.hostname
    existing.agent_version = agent_version or existing.agent_version
    existing.enrolled_at = now
    existing.revoked_at = None
    # A new machine (or a cleaned one): the clone evidence of the old token no longer applies.
    existing.session_id = None
    existing.clone_suspected_at = None
    existing.clone_detail = None
    session.add(existing)
    audit.record(session, store.tenant_id, "system", "register.reenrolled", f"register {existing.id}")
    return existing
