"""Tenants, stores, registers: creation, enrollment, authentication, heartbeats.

Each function is one unit of work on a Session and commits it. Routers and the CLI call these; other
capabilities (ingest) call `authenticate_register` and read the tables, never the fleet router.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.accounts.models import Register, Store, Tenant
from cloud.credentials import code_hash, new_api_key, new_enrollment_code, new_register_token, sha256_hex
from cloud.db.types import utcnow
from cloud.fleet.health import FleetPolicy, RegisterState, Reported, assess, worst
from cloud.fleet.models import EnrollmentCode, RegisterSession
from cloud.fleet.schemas import FleetPolicyOut, FleetStatus, FleetTotals, RegisterHealth, StoreHealth
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
    # Optional fields (absent from v1 agents: left as they were, or cleared where absence means "none").
    register.heartbeat_interval_s = beat.heartbeat_interval_s or register.heartbeat_interval_s
    register.outbox_bytes = beat.outbox_bytes
    register.outbox_quota_bytes = beat.outbox_quota_bytes
    register.outbox_recovered = list(beat.outbox_recovered) or None
    register.write_error = beat.write_error[:1000] if beat.write_error else None
    register.dead_letter = list(beat.dead_letter) or None
    if beat.session_id:
        _note_session(session, register, beat.session_id, beat.instance_id, now)
    session.add(register)
    session.commit()
    if beat.write_error or beat.outbox_recovered:
        event(
            log,
            logging.ERROR,
            "register.outbox_fault",
            register_id=register.id,
            store_id=register.store_id,
            write_error=beat.write_error or "",
            recovered=",".join(beat.outbox_recovered),
        )
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


SESSION_KEEP = timedelta(days=7)


def _note_session(
    session: Session, register: Register, session_id: str, instance_id: str | None, now: datetime
) -> None:
    """Record the agent session; flag the register when an older session speaks after a newer one.

    One machine's sessions only follow each other. Two agents sharing one token interleave, so a known
    session that is not the latest one coming back is the evidence of a clone (restarts never do that).
    """
    seen = session.exec(
        select(RegisterSession).where(
            RegisterSession.register_id == register.id, RegisterSession.session_id == session_id
        )
    ).first()
    latest = register.session_id
    if seen is None:
        session.add(
            RegisterSession(
                register_id=register.id or 0,
                session_id=session_id,
                instance_id=instance_id,
                first_seen=now,
                last_seen=now,
            )
        )
    else:
        seen.last_seen = now
        seen.beats += 1
        session.add(seen)
    if seen is not None and latest is not None and latest != session_id:
        other = session.exec(
            select(RegisterSession).where(
                RegisterSession.register_id == register.id, RegisterSession.session_id == latest
            )
        ).first()
        instances = sorted({i for i in (instance_id, other.instance_id if other else None) if i})
        register.clone_suspected_at = now
        who = " and ".join(instances) if len(instances) > 1 else f"{(instances or ['?'])[0]} (twice)"
        register.clone_detail = (
            f"two agents use this register's token at once (a cloned disk image?): instances {who}; "
            "enroll one of them again with a new code"
        )[:500]
        event(
            log,
            logging.ERROR,
            "register.clone_suspected",
            register_id=register.id,
            store_id=register.store_id,
            instances=",".join(instances),
        )
    register.session_id = session_id
    register.instance_id = instance_id or register.instance_id
    session.execute(
        sa.delete(RegisterSession).where(
            RegisterSession.register_id == register.id,  # type: ignore[arg-type]
            RegisterSession.last_seen < now - SESSION_KEEP,  # type: ignore[operator]
        )
    )


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


def fleet_status(
    session: Session, tenant_id: int, policy: FleetPolicy, now: datetime | None = None
) -> FleetStatus:
    """Every store of the tenant with every register's state and problems, as of `now`."""
    now = now or utcnow()
    stores: list[StoreHealth] = []
    totals = FleetTotals()
    for store, registers in list_stores(session, tenant_id):
        rows: list[RegisterHealth] = []
        for r in registers:
            a = assess(_reported(r), now, policy)
            rows.append(
                RegisterHealth(
                    id=r.id or 0,
                    store_id=r.store_id,
                    hostname=r.hostname,
                    agent_version=r.agent_version,
                    state=a.state.value,
                    last_heartbeat_at=r.last_heartbeat_at,
                    since_heartbeat_s=round(a.since_heartbeat_s, 1)
                    if a.since_heartbeat_s is not None
                    else None,
                    heartbeat_interval_s=r.heartbeat_interval_s,
                    queue_depth=r.queue_depth,
                    oldest_unsynced_age_s=a.oldest_unsynced_age_s,
                    last_sync_at=r.last_sync_at,
                    last_error=r.last_error,
                    clock_skew_s=r.clock_skew_s,
                    clock_off=a.clock_off,
                    clone_suspected=a.clone_suspected,
                    clone_detail=r.clone_detail if a.clone_suspected else None,
                    instance_id=r.instance_id,
                    outbox_bytes=r.outbox_bytes,
                    outbox_quota_bytes=r.outbox_quota_bytes,
                    outbox_over_quota=a.over_quota,
                    outbox_recovered=list(r.outbox_recovered or []),
                    write_error=r.write_error,
                    dead_letter_count=r.rejected_count,
                    dead_letter=list(r.dead_letter or []),
                    problems=a.problems,
                )
            )
            totals.registers += 1
            setattr(totals, a.state.value, getattr(totals, a.state.value) + 1)
            totals.with_problems += bool(a.problems)
            totals.queued += r.queue_depth
        state = worst([RegisterState(x.state) for x in rows])
        stores.append(
            StoreHealth(
                id=store.id or 0, name=store.name, state=state.value if state else None, registers=rows
            )
        )
    return FleetStatus(
        generated_at=now,
        policy=FleetPolicyOut(
            grace_s=policy.grace_s,
            stale_after_s=policy.stale_after_s,
            clock_skew_limit_s=policy.clock_skew_limit_s,
        ),
        totals=totals,
        stores=stores,
    )


def _reported(r: Register) -> Reported:
    return Reported(
        last_heartbeat_at=r.last_heartbeat_at,
        heartbeat_interval_s=r.heartbeat_interval_s,
        queue_depth=r.queue_depth,
        rejected_count=r.rejected_count,
        oldest_unsynced_age_s=r.oldest_unsynced_age_s,
        last_error=r.last_error,
        clock_skew_s=r.clock_skew_s,
        outbox_bytes=r.outbox_bytes,
        outbox_quota_bytes=r.outbox_quota_bytes,
        outbox_recovered=list(r.outbox_recovered or []),
        write_error=r.write_error,
        clone_suspected_at=r.clone_suspected_at,
        clone_detail=r.clone_detail,
    )
