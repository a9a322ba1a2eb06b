"""Delivery's HTTP surface, thin: provider callbacks, the retailer's app backend, head office's reports.
The buyer's e-receipt page the messages link to lives in `cloud.pages`."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cloud.db.types import utcnow
from cloud.delivery import config as delivery_config
from cloud.delivery import reports, service
from cloud.delivery.cascade import Channel
from cloud.delivery.channels import BadReport, build_adapter
from cloud.deps import CurrentTenant, IdentityKeysDep, SessionDep, WritingTenant
from cloud.errors import NotFound, error_responses
from cloud.logs import event

log = logging.getLogger("cloud.delivery")
router = APIRouter(tags=["delivery"])
CALLBACK_CHANNELS = (Channel.EMAIL, Channel.VIBER, Channel.SMS)


class DeviceIn(BaseModel):
    contact: str = Field(description="the buyer's phone or e-mail, as the app knows it")
    token: str = Field(description="the app installation's FCM registration token")


class OptOutIn(BaseModel):
    contact: str
    channel: Channel | None = Field(None, description="one channel, or none for every channel")


def _ingest_reports(session: Any, tenant_id: int, channel: Channel, body: bytes, request: Request) -> Any:
    cfg = delivery_config.load(session, tenant_id)
    settings = cfg.channels.get(channel)
    if settings is None:
        raise NotFound(f"channel {channel} is not configured")
    adapter = build_adapter(channel, settings, 0, None)  # type: ignore[arg-type]  # parsing needs no HTTP
    try:
        parsed = adapter.parse_report(body, request.headers, request.query_params)
    except BadReport as exc:
        event(
            log,
            logging.WARNING,
            "report.refused",
            tenant_id=tenant_id,
            channel=channel,
            status_code=exc.status_code,
            reason=str(exc),
            size=len(body),
        )
        raise
    return service.apply_reports(session, tenant_id, channel, parsed, cfg.prices, utcnow())


@router.post(
    "/v1/delivery/callbacks/{tenant_id}/{channel}",
    summary="Delivery reports from providers (e-mail events, Viber, SMS.ru)",
    description="Each provider's own format and signature. Unknown message ids are answered 200 and logged; "
    "malformed bodies 400; a wrong signature or secret 401. SMS.ru gets the `100` it expects.",
    responses=error_responses(400, 401, 404, 422),
)
async def provider_callback(tenant_id: int, channel: Channel, request: Request, session: SessionDep) -> Any:
    if channel not in CALLBACK_CHANNELS:
        raise NotFound("push events come from the app backend")
    body = await request.body()
    # The database work is blocking: off the event loop, so a burst of callbacks never stalls the server.
    outcome = await run_in_threadpool(_ingest_reports, session, tenant_id, channel, body, request)
    if channel is Channel.SMS:
        return PlainTextResponse("100")
    return {"applied": outcome.applied, "late": outcome.late, "unknown": outcome.unknown}


@router.post(
    "/v1/delivery/app/events",
    summary="The retailer's app backend: a push was delivered to / opened on the device",
    description='`{"message_id": "projects/.../messages/...", "event": "delivered" | "opened"}` or a list.',
    responses=error_responses(400, 401, 403, 404),
)
async def app_events(request: Request, session: SessionDep, tenant: WritingTenant) -> Any:
    assert tenant.id is not None
    body = await request.body()
    outcome = await run_in_threadpool(_ingest_reports, session, tenant.id, Channel.PUSH, body, request)
    return {"applied": outcome.applied, "late": outcome.late, "unknown": outcome.unknown}


@router.post(
    "/v1/delivery/app/devices",
    summary="Register a buyer's app installation for push",
    responses=error_responses(401, 403, 422),
)
def register_device(
    body: DeviceIn, session: SessionDep, tenant: WritingTenant, keys: IdentityKeysDep
) -> dict[str, bool]:
    assert tenant.id is not None
    return {"created": service.register_device(session, keys, tenant.id, body.contact, body.token)}


@router.post(
    "/v1/delivery/opt-outs",
    summary="A buyer asked not to get e-receipts (on one channel or any)",
    responses=error_responses(401, 403, 422),
)
def opt_out(
    body: OptOutIn, session: SessionDep, tenant: WritingTenant, keys: IdentityKeysDep
) -> dict[str, str]:
    assert tenant.id is not None
    service.add_opt_out(session, keys, tenant.id, body.contact, body.channel)
    return {"status": "ok"}


@router.get(
    "/v1/receipts/{receipt_id}/delivery",
    summary="A receipt's delivery timeline: every attempt, try, report and price",
    responses=error_responses(401, 404, 422),
)
def delivery_timeline(receipt_id: int, session: SessionDep, tenant: CurrentTenant) -> dict[str, Any]:
    assert tenant.id is not None
    return reports.timeline(session, tenant.id, receipt_id)


@router.get(
    "/v1/delivery/summary",
    summary="Per store and period: sent, delivered, opened, channel mix, cost, saving vs the operator",
    responses=error_responses(401, 422),
)
def delivery_summary(
    session: SessionDep,
    tenant: CurrentTenant,
    since: Annotated[datetime | None, Query(description="default: 24 hours ago")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
    store_id: int | None = None,
) -> dict[str, Any]:
    assert tenant.id is not None
    until = _aware(until) if until else utcnow() + timedelta(seconds=1)
    since = _aware(since) if since else until - timedelta(days=1)
    return reports.summary(session, tenant.id, since, until, store_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
