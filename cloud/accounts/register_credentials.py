"""Registers' bearer tokens: issued at enrollment, revoked by store IT or by re-enrollment.

A register may hold several token rows over its life; one is live. A revoked token is kept (hash only) so
its caller is told `register_revoked` (403: the agent keeps its queue and says so) instead of 401.
"""

import logging

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.accounts import audit
from cloud.accounts.models import Register, RegisterToken
from cloud.credentials import new_register_token, sha256_hex
from cloud.db.types import utcnow
from cloud.errors import NotFound, RegisterRevoked
from cloud.logs import event

log = logging.getLogger("cloud.accounts")

REVOKED = (
    "this register's token was revoked by head office; the agent keeps its receipts queued. "
    "Ask store IT for a new enrollment code and enroll the register again"
)
REPLACED = (
    "this register was enrolled again and this token replaced; the agent keeps its receipts queued. "
    "If this machine should still be the register, enroll it again with a new code"
)


def issue(session: Session, register: Register) -> str:
    """A new token for the register (the caller commits). Returned once; only its hash is stored."""
    assert register.id is not None
    token = new_register_token()
    session.add(RegisterToken(register_id=register.id, token_hash=sha256_hex(token), issued_at=utcnow()))
    return token


def revoke_tokens(session: Session, register_id: int, reason: str) -> int:
    """Revoke every live token of the register (the caller commits); returns how many."""
    result = session.execute(
        sa.update(RegisterToken)
        .where(RegisterToken.register_id == register_id, RegisterToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_register(session: Session, tenant_id: int, register_id: int, actor: str) -> Register:
    """Store IT takes a register out of service (stolen, decommissioned, cloned): every token refused."""
    register = session.get(Register, register_id)
    if register is None or register.tenant_id != tenant_id:
        raise NotFound(f"register {register_id} not found for this tenant")
    revoked = revoke_tokens(session, register_id, "revoked")
    register.revoked_at = register.revoked_at or utcnow()
    session.add(register)
    audit.record(
        session,
        tenant_id,
        actor,
        "register.revoked",
        f"register {register_id}",
        store_id=register.store_id,
        tokens=revoked,
    )
    session.commit()
    session.refresh(register)
    event(log, logging.WARNING, "register.revoked", register_id=register_id, store_id=register.store_id)
    return register


def holder(session: Session, token: str) -> Register | None:
    """The register a token was ever issued to, live or revoked (re-enrollment names its register so)."""
    if not token or len(token) > 200:
        return None
    row = session.exec(select(RegisterToken).where(RegisterToken.token_hash == sha256_hex(token))).first()
    return session.get(Register, row.register_id) if row is not None else None


def authenticate(session: Session, token: str) -> Register | None:
    """The register of a live token; None for an unknown one; RegisterRevoked for a revoked one."""
    if not token or len(token) > 200:
        return None
    row = session.exec(select(RegisterToken).where(RegisterToken.token_hash == sha256_hex(token))).first()
    if row is None:
        return None
    if row.revoked_at is not None:
        raise RegisterRevoked(REPLACED if row.revoked_reason == "replaced" else REVOKED)
    return session.get(Register, row.register_id)
