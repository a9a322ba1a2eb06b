"""Integrations' API keys: one per integration, scoped `read` or `read,write`, rotated and revoked.

Only a key's SHA-256 is stored, with its first characters to tell keys apart on a page. Rotation makes a
new secret under the same name and scopes; the old one keeps working for the grace period (default none).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cloud.accounts import audit
from cloud.accounts.models import ApiKey
from cloud.credentials import new_api_key, sha256_hex
from cloud.db.types import utcnow
from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.logs import event

log = logging.getLogger("cloud.accounts")

READ = "read"
WRITE = "write"
READ_ONLY = frozenset({READ})
READ_WRITE = frozenset({READ, WRITE})
PREFIX_LEN = 8
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per key a minute for "last used"


@dataclass(frozen=True, slots=True)
class KeyView:
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


def parse_scopes(value: str | frozenset[str]) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in value.split(",")) if isinstance(value, str) else value
    scopes = frozenset(s for s in scopes if s)
    unknown = scopes - READ_WRITE
    if unknown or not scopes:
        given = ",".join(sorted(scopes)) or "—"
        raise InvalidInput(f"scopes are 'read' or 'read,write' (чтение или чтение и запись), not {given}")
    return scopes | {READ}  # writing implies reading


def scopes_of(key: ApiKey) -> frozenset[str]:
    return frozenset(key.scopes.split(","))


def add(
    session: Session, tenant_id: int, name: str, scopes: frozenset[str] | str, actor: str
) -> tuple[ApiKey, str]:
    """A new key; returns it and its secret (shown once). Commits."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("у ключа должно быть название от 1 до 100 символов: для какой он интеграции")
    wanted = parse_scopes(scopes)
    secret = new_api_key()
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        key_hash=sha256_hex(secret),
        prefix=secret[:PREFIX_LEN],
        scopes=",".join(sorted(wanted)),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    audit.record(session, tenant_id, actor, "api_key.created", f"key {key.id} {name}", scopes=key.scopes)
    session.commit()
    session.refresh(key)
    event(log, logging.INFO, "api_key.created", tenant_id=tenant_id, key_id=key.id, scopes=key.scopes)
    return key, secret


def _own(session: Session, tenant_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFound(f"api key {key_id} not found for this tenant (see `echeck-cloud key list`)")
    return key


def rotate(
    session: Session, tenant_id: int, key_id: int, actor: str, grace: timedelta = timedelta(0)
) -> tuple[ApiKey, str]:
    """A new secret with the same name and scopes; the old one stops working after `grace`."""
    old = _own(session, tenant_id, key_id)
    if old.revoked_at is not None:
        raise Conflict(f"api key {key_id} is revoked; add a new one instead")
    now = utcnow()
    if grace > timedelta(0):
        old.expires_at = now + grace
    else:
        old.revoked_at = now
    session.add(old)
    secret = new_api_key()
    new = ApiKey(
        tenant_id=tenant_id,
        name=old.name,
        key_hash=sha256_hex(secret),
        prefix=secret[:PREFIX_LEN],
        scopes=old.scopes,
        created_at=now,
    )
    session.add(new)
    session.flush()
    audit.record(
        session,
        tenant_id,
        actor,
        "api_key.rotated",
        f"key {key_id} {old.name}",
        new_key=new.id,
        grace_s=int(grace.total_seconds()),
    )
    session.commit()
    session.refresh(new)
    event(log, logging.INFO, "api_key.rotated", tenant_id=tenant_id, key_id=key_id, new_key_id=new.id)
    return new, secret


def revoke(session: Session, tenant_id: int, key_id: int, actor: str) -> ApiKey:
    key = _own(session, tenant_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        audit.record(session, tenant_id, actor, "api_key.revoked", f"key {key_id} {key.name}")
        session.commit()
        session.refresh(key)
        event(log, logging.INFO, "api_key.revoked", tenant_id=tenant_id, key_id=key_id)
    return key


def list_keys(session: Session, tenant_id: int) -> list[KeyView]:
    rows = session.exec(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(col(ApiKey.id)))
    return [
        KeyView(
            id=k.id or 0,
            name=k.name,
            prefix=k.prefix,
            scopes=sorted(scopes_of(k)),
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )
        for k in rows
    ]


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The live key with this secret, or None (unknown, revoked or past its rotation grace)."""
    if not secret or len(secret) > 200:
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == sha256_hex(secret))).first()
    now = utcnow()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        key.last_used_at = now
        session.add(key)
        session.commit()
        session.refresh(key)
    return key
