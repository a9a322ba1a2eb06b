"""Tenants, stores, registers: creation, enrollment, authentication, heartbeats.

Each function is one unit of work on a Session and commits it. Routers and the CLI call these; other
capabilities (ingest) call `authenticate_register` and read the tables, never the fleet router.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.credentials import code_hash, new_api_key, new_enrollment_code, new_register_token, sha256_hex
from cloud.db.models import EnrollmentCode, Register, Store, Tenant, utcnow
from cloud.logs import event
from cloud.settings import DEFAULT_ENROLL_TTL_HOURS
from sync.protocol import EnrollResponse, Heartbeat, HeartbeatAck

log = logging.getLogger("cloud.fleet")


class FleetError(Exception):
    """A request the fleet cannot honour; the message is meant for the person who made it."""


USED = "this enrollment code was already used; ask for a new one (`echeck-cloud enroll-code`)"


class NotFound(FleetError):
    pass


class InvalidCode(FleetError):
    """The code was never issued (or mistyped)."""


class CodeGone(FleetError):
    """The code existed but can no longer be used: already used or expired."""


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # shown once to store IT; only its hash is stored
    store_id: int
    expires_at: datetime


def create_tenant(session: Session, name: str) -> tuple[Tenant, str]:
    """Returns the tenant and its api key. The key is shown once: only its hash is kept."""
    name = name.strip()
    if not name:
        raise FleetError("tenant name must not be empty")
    api_key = new_api_key()
    tenant = Tenant(name=name, api_key_hash=sha256_hex(api_key), created_at=utcnow())
    session.add(tenant)
    session.commit()
    session.refresh(tenant)
    event(log, logging.INFO, "tenant.created", tenant_id=tenant.id, name=tenant.name)
    return tenant, api_key


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.exec(select(Tenant).order_by(Tenant.id)))  # type: ignore[arg-type]


def create_store(session: Session, tenant_id: int, name: str) -> Store:
    name = name.strip()
    if not name:
        raise FleetError("store name must not be empty")
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist (see `echeck-cloud tenant list`)")
    store = Store(tenant_id=tenant_id, name=name)
    session.add(store)
    session.commit()
    session.refresh(store)
    event(log, logging.INFO, "store.created", tenant_id=tenant_id, store_id=store.id, name=store.name)
    return store


def issue_enrollment_code(
    session: Session, store_id: int, ttl: timedelta = timedelta(hours=DEFAULT_ENROLL_TTL_HOURS)
) -> IssuedCode:
    """A single-use code such as 'K7QF-9MZC' that enrolls one register into `store_id`."""
    if ttl <= timedelta(0):
        raise FleetError("the code's lifetime must be positive")
    if session.get(Store, store_id) is None:
        raise NotFound(f"store {store_id} does not exist (see `echeck-cloud store list --tenant ID`)")
    now = utcnow()
    code = new_enrollment_code()
    row = EnrollmentCode(store_id=store_id, code_hash=code_hash(code), created_at=now, expires_at=now + ttl)
    session.add(row)
    session.commit()
    event(log, logging.INFO, "enrollment_code.issued", store_id=store_id, expires_at=row.expires_at)
    return IssuedCode(code=code, store_id=store_id, expires_at=row.expires_at)


def enroll(session: Session, code: str, hostname: str = "", agent_version: str = "") -> EnrollResponse:
    """Exchange an enrollment code for a new register and its bearer token (returned once)."""
    row = session.exec(select(EnrollmentCode).where(EnrollmentCode.code_hash == code_hash(code))).first()
    if row is None:
        raise InvalidCode("unknown enrollment code: check it was typed as issued (e.g. K7QF-9MZC)")
    now = utcnow()
    if row.used_at is not None:
        raise CodeGone(USED)
    if row.expires_at <= now:
        raise CodeGone("this enrollment code has expired; ask for a new one (`echeck-cloud enroll-code`)")
    store = session.get(Store, row.store_id)
    assert store is not None  # FK
    assert store.id is not None
    token = new_register_token()
    register = Register(
        tenant_id=store.tenant_id,
        store_id=store.id,
        token_hash=sha256_hex(token),
        hostname=hostname,
        agent_version=agent_version,
        enrolled_at=now,
    )
    session.add(register)
    session.flush()
    # Conditional update: of two registers racing with one code, exactly one wins.
    claimed = session.execute(
        sa.update(EnrollmentCode)
        .where(EnrollmentCode.id == row.id, EnrollmentCode.used_at.is_(None))  # type: ignore[union-attr]
        .values(used_at=now, register_id=register.id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise CodeGone(USED)
    session.commit()
    assert register.id is not None
    event(
        log,
        logging.INFO,
        "register.enrolled",
        tenant_id=store.tenant_id,
        store_id=store.id,
        register_id=register.id,
        hostname=hostname,
        agent_version=agent_version,
    )
    return EnrollResponse(tenant_id=store.tenant_id, store_id=store.id, register_id=register.id, token=token)


def authenticate_register(session: Session, token: str) -> Register | None:
    if not token:
        return None
    return session.exec(select(Register).where(Register.token_hash == sha256_hex(token))).first()


def authenticate_tenant(session: Session, api_key: str) -> Tenant | None:
    if not api_key:
        return None
    return session.exec(select(Tenant).where(Tenant.api_key_hash == sha256_hex(api_key))).first()


def _aware(value: datetime) -> datetime:
    # Agents should send aware times; a naive one is taken as UTC rather than guessed from a zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_heartbeat(session: Session, register: Register, beat: Heartbeat) -> HeartbeatAck:
    now = utcnow()
    skew = (_aware(beat.register_time) - now).total_seconds()
    register.last_heartbeat_at = now
    register.agent_version = beat.agent_version or register.agent_version
    register.queue_depth = beat.queue_depth
    register.rejected_count = beat.rejected_count
    register.oldest_unsynced_age_s = beat.oldest_unsynced_age_s
    register.last_sync_at = _aware(beat.last_sync_at) if beat.last_sync_at else None
    register.last_error = beat.last_error[:1000] if beat.last_error else None
    register.clock_skew_s = round(skew, 3)
    session.add(register)
    session.commit()
    level = logging.WARNING if abs(skew) > 300 or beat.rejected_count else logging.INFO
    event(
        log,
        level,
        "register.heartbeat",
        register_id=register.id,
        store_id=register.store_id,
        queue_depth=beat.queue_depth,
        rejected=beat.rejected_count,
        clock_skew_s=round(skew, 1),
        last_error=beat.last_error or "",
    )
    return HeartbeatAck(cloud_time=now, clock_skew_s=round(skew, 3))


def get_store(session: Session, store_id: int) -> Store | None:
    return session.get(Store, store_id)


def list_stores(session: Session, tenant_id: int) -> list[tuple[Store, list[Register]]]:
    """A tenant's stores, each with its registers (two queries, whatever the fleet's size)."""
    stores = list(session.exec(select(Store).where(Store.tenant_id == tenant_id).order_by(Store.id)))  # type: ignore[arg-type]
    registers = session.exec(
        select(Register).where(Register.tenant_id == tenant_id).order_by(Register.id)  # type: ignore[arg-type]
    )
    by_store: dict[int, list[Register]] = {s.id: [] for s in stores if s.id is not None}
    for register in registers:
        by_store.setdefault(register.store_id, []).append(register)
    return [(s, by_store.get(s.id or 0, [])) for s in stores]
