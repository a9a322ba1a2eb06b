"""Fleet endpoints: enrollment and heartbeats for registers, the store list for head office."""

import os
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status

from cloud.deps import CurrentRegister, CurrentTenant, SessionDep
from cloud.fleet import service
from cloud.fleet.health import FleetPolicy
from cloud.fleet.schemas import FleetStatus, RegisterOut, StoreList, StoreOut
from cloud.settings import PUBLIC_URL_ENV
from sync.protocol import (
    ENROLL_PATH,
    HEARTBEAT_PATH,
    EnrollRequest,
    EnrollResponse,
    Heartbeat,
    HeartbeatAck,
    Problem,
)

router = APIRouter(tags=["fleet"])


@router.post(
    ENROLL_PATH,
    response_model=EnrollResponse,
    summary="Exchange an enrollment code for a register token",
    responses={
        400: {"model": Problem, "description": "Unknown enrollment code"},
        410: {"model": Problem, "description": "The code was already used or has expired"},
    },
)
def enroll(
    session: SessionDep,
    request: Request,
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
    try:
        answer = service.enroll(session, body.code, body.hostname, body.agent_version)
    except service.InvalidCode as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    except service.CodeGone as exc:
        raise HTTPException(status.HTTP_410_GONE, detail=str(exc)) from exc
    return answer.model_copy(update={"public_url": public_url(request)})


def public_url(request: Request) -> str:
    """The configured public URL (`--public-url`, ECHECK_PUBLIC_URL), else the address the caller used."""
    settings = getattr(request.app.state, "settings", None)
    configured = getattr(settings, "public_url", "") if os.environ.get(PUBLIC_URL_ENV) else ""
    if urlsplit(configured).hostname in (None, "", "0.0.0.0", "::"):
        return str(request.base_url).rstrip("/")
    return configured.rstrip("/")


@router.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatAck,
    summary="Report a register's health (queue depth, errors, clock)",
    responses={401: {"model": Problem}},
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
    return service.record_heartbeat(session, register, body)


@router.get(
    "/v1/stores",
    response_model=StoreList,
    summary="The tenant's stores with their registers' last heartbeat",
    responses={401: {"model": Problem}},
)
def stores(session: SessionDep, tenant: CurrentTenant) -> StoreList:
    assert tenant.id is not None
    return StoreList(
        stores=[
            StoreOut(
                id=store.id or 0,
                tenant_id=store.tenant_id,
                name=store.name,
                registers=[RegisterOut.model_validate(r) for r in registers],
            )
            for store, registers in service.list_stores(session, tenant.id)
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
    summary="Every store and register: online/offline/stale, backlog, errors, clock, clones, outbox faults",
    description=(
        "A register is `online` when its last heartbeat came within its interval plus `grace_s`, `offline` "
        "after that, `stale` after `stale_after_s` without one, `never_seen` before its first. `problems` "
        "lists what needs attention in sentences. Policy: ECHECK_FLEET_GRACE_S, ECHECK_FLEET_STALE_S, "
        "ECHECK_FLEET_CLOCK_SKEW_S, ECHECK_FLEET_CLONE_WINDOW_S, ECHECK_FLEET_BACKLOG_AGE_S."
    ),
    responses={401: {"model": Problem}},
)
def fleet_status(session: SessionDep, tenant: CurrentTenant, policy: PolicyDep) -> FleetStatus:
    assert tenant.id is not None
    return service.fleet_status(session, tenant.id, policy)
