"""Fleet endpoints: enrollment and heartbeats for registers; the store list and fleet status for head office
(an API key, or a signed-in user with the fleet permission: only the stores in their scope)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from cloud.deps import CurrentRegister, FleetReader, SessionDep, public_url, register_bearer
from cloud.errors import error_responses
from cloud.fleet import enrollment, heartbeats
from cloud.fleet.health import FleetPolicy
from cloud.fleet.schemas import FleetStatus, RegisterOut, StoreList, StoreOut
from cloud.fleet.status import fleet_status as build_status
from cloud.fleet.status import list_stores
from cloud.openapi_contract import AUTH_OPTIONAL
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, EnrollRequest, EnrollResponse, Heartbeat, HeartbeatAck

router = APIRouter(tags=["fleet"])


@router.post(
    ENROLL_PATH,
    response_model=EnrollResponse,
    summary="Exchange an enrollment code for a register token",
    description="Wrong codes are counted per client address and per the code's first group: past the limit "
    "every attempt is answered 429 with Retry-After until the lockout ends. A code bound to a register "
    "(`echeck-cloud register rotate`) re-enrolls it: same register id, its old tokens revoked; so does a "
    "store's code sent with the register's current (or revoked) token as `Authorization: Bearer`.",
    responses=error_responses(400, 410, 429),
    openapi_extra={AUTH_OPTIONAL: True},
)
def enroll(
    request: Request,
    session: SessionDep,
    previous: Annotated[HTTPAuthorizationCredentials | None, Depends(register_bearer)],
    body: Annotated[
        EnrollRequest,
        Body(
            openapi_examples={
                "till": {
                    "value": {"code": "K7QF-9MZC", "hostname": "store12-till3", "agent_version": "0.1.0"}
                }
            }
        ),
    ],
) -> EnrollResponse:
    client = request.client.host if request.client else "?"
    token = previous.credentials if previous else None
    answer = enrollment.enroll(session, body.code, body.hostname, body.agent_version, client, token)
    return answer.model_copy(update={"public_url": public_url(request)})


@router.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatAck,
    response_model_exclude_none=True,
    summary="Report a register's health (queue depth, errors, clock)",
    responses=error_responses(401, 403),
)
def heartbeat(
    session: SessionDep,
    register: CurrentRegister,
    body: Annotated[
        Heartbeat,
        Body(
            openapi_examples={
                "healthy": {
                    "value": {
                        "agent_version": "0.1.0",
                        "queue_depth": 0,
                        "rejected_count": 0,
                        "oldest_unsynced_age_s": None,
                        "last_sync_at": "2026-11-23T10:14:58Z",
                        "last_error": None,
                        "register_time": "2026-11-23T10:15:01Z",
                    }
                }
            }
        ),
    ],
) -> HeartbeatAck:
    return heartbeats.record_heartbeat(session, register, body)


@router.get(
    "/v1/stores",
    response_model=StoreList,
    summary="The tenant's stores (those in the caller's scope) with their registers' last heartbeat",
    responses=error_responses(401, 403),
)
def stores(session: SessionDep, caller: FleetReader) -> StoreList:
    return StoreList(
        stores=[
            StoreOut(
                id=store.id or 0,
                tenant_id=store.tenant_id,
                name=store.name,
                region=store.region,
                update_channel=store.update_channel,
                registers=[RegisterOut.model_validate(r) for r in registers],
            )
            for store, registers in list_stores(session, caller.tenant_id, caller.store_ids)
        ]
    )


def fleet_policy(request: Request) -> FleetPolicy:
    """The app's policy (set where the app is built), else the environment's."""
    policy = getattr(request.app.state, "fleet_policy", None)
    return policy if isinstance(policy, FleetPolicy) else FleetPolicy.from_env()


PolicyDep = Annotated[FleetPolicy, Depends(fleet_policy)]


@router.get(
    "/v1/fleet/status",
    response_model=FleetStatus,
    summary="Every store and register: online/offline/stale/revoked, backlog, errors, clock, clones, outbox",
    description=(
        "A register is `online` when its last heartbeat came within its interval plus `grace_s`, `offline` "
        "after that, `stale` after `stale_after_s` without one, `never_seen` before its first, `revoked` "
        "once head office revoked its token. `problems` lists what needs attention in sentences. A signed-in "
        "user sees only the stores in their scope. Policy: ECHECK_FLEET_GRACE_S, ECHECK_FLEET_STALE_S, "
        "ECHECK_FLEET_CLOCK_SKEW_S, ECHECK_FLEET_CLONE_WINDOW_S, ECHECK_FLEET_BACKLOG_AGE_S."
    ),
    responses=error_responses(401, 403),
)
def fleet_status(session: SessionDep, caller: FleetReader, policy: PolicyDep) -> FleetStatus:
    return build_status(session, caller.tenant_id, policy, store_ids=caller.store_ids)
