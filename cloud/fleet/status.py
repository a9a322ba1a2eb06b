"""The fleet status read model: every store in the caller's scope with each register's state and problems."""

from datetime import datetime

from sqlmodel import Session, col, select

from cloud.accounts.models import Register, Store
from cloud.accounts.tenants import stores_of
from cloud.db.types import utcnow
from cloud.fleet.health import FleetPolicy, RegisterState, Reported, assess, worst
from cloud.fleet.schemas import FleetPolicyOut, FleetStatus, FleetTotals, RegisterHealth, StoreHealth


def list_stores(
    session: Session, tenant_id: int, store_ids: frozenset[int] | None = None
) -> list[tuple[Store, list[Register]]]:
    """The tenant's stores (those in `store_ids`, None = all), each with its registers: two queries."""
    stores = stores_of(session, tenant_id, store_ids)
    query = select(Register).where(Register.tenant_id == tenant_id)
    if store_ids is not None:
        query = query.where(col(Register.store_id).in_(store_ids))
    by_store: dict[int, list[Register]] = {s.id: [] for s in stores if s.id is not None}
    for register in session.exec(query.order_by(col(Register.id))):
        by_store.setdefault(register.store_id, []).append(register)
    return [(s, by_store.get(s.id or 0, [])) for s in stores]


def fleet_status(
    session: Session,
    tenant_id: int,
    policy: FleetPolicy,
    now: datetime | None = None,
    store_ids: frozenset[int] | None = None,
) -> FleetStatus:
    """Every store of the tenant (in `store_ids`) with every register's state and problems, as of `now`."""
    now = now or utcnow()
    stores: list[StoreHealth] = []
    totals = FleetTotals()
    for store, registers in list_stores(session, tenant_id, store_ids):
        rows = [_health(r, now, policy) for r in registers]
        for row in rows:
            totals.registers += 1
            setattr(totals, row.state, getattr(totals, row.state) + 1)
            totals.with_problems += bool(row.problems)
            totals.queued += row.queue_depth
        state = worst([RegisterState(x.state) for x in rows])
        stores.append(
            StoreHealth(
                id=store.id or 0,
                name=store.name,
                region=store.region,
                update_channel=store.update_channel,
                state=state.value if state else None,
                registers=rows,
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


def _health(r: Register, now: datetime, policy: FleetPolicy) -> RegisterHealth:
    a = assess(_reported(r), now, policy)
    revoked = r.revoked_at is not None
    problems = (
        ["токен отозван: касса не отправляет чеки, пока её не подключат заново"] if revoked else a.problems
    )
    return RegisterHealth(
        id=r.id or 0,
        store_id=r.store_id,
        hostname=r.hostname,
        agent_version=r.agent_version,
        state=RegisterState.REVOKED.value if revoked else a.state.value,
        revoked_at=r.revoked_at,
        last_heartbeat_at=r.last_heartbeat_at,
        since_heartbeat_s=round(a.since_heartbeat_s, 1) if a.since_heartbeat_s is not None else None,
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
        problems=problems,
        update_channel=r.update_channel,
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
