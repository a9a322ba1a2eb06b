"""Delivery's HTTP surface, thin: provider callbacks, the retailer's app backend, head office's reports.
The buyer's e-receipt page the messages link to lives in `cloud.pages`."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cloud.db.types import utcnow
from cloud.delivery import config as delivery_config
from cloud.delivery import replay, reports, service
from cloud.delivery.cascade import Channel
from cloud.delivery.channels import BadReport, build_adapter
from cloud.deps import CurrentTenant, IdentityKeysDep, SessionDep, WritingTenant
from cloud.errors import BadRequest, NotFound, Unauthorized, error_responses
from cloud.logs import event
from sync.protocol import WireDateTime, WireId

log = logging.getLogger("cloud.delivery")
router = APIRouter(tags=["delivery"])
SIGNED_CALLBACK_CHANNELS = (Channel.EMAIL, Channel.VIBER)
MAX_ID = 2**63 - 1


class DeviceIn(BaseModel):
    contact: WireId = Field(max_length=320, description="the buyer's phone or e-mail, as the app knows it")
    token: WireId = Field(min_length=1, max_length=512, description="the app installation's FCM token")


class OptOutIn(BaseModel):
    contact: WireId = Field(max_length=320)
    channel: Channel | None = Field(None, description="one channel, or none for every channel")


class CallbackOutcome(BaseModel):
    applied: int = Field(description="reports that moved a delivery on")
    late: int = Field(description="reports of a delivery that had already moved past them")
    unknown: int = Field(description="reports of message ids we do not know (kept, logged)")
    replayed: int = Field(0, description="events seen before: a replayed or retried callback, not applied")


def _ingest_reports(
    session: Any, tenant_id: int, channel: Channel, body: bytes, request: Request
) -> CallbackOutcome:
    cfg = delivery_config.load(session, tenant_id)
    settings = cfg.channels.get(channel)
    if settings is None:
        raise NotFound(f"channel {channel} is not configured")
    adapter = build_adapter(channel, settings, 0, None)  # type: ignore[arg-type]  # parsing needs no HTTP
    now = utcnow()
    try:
        parsed = adapter.parse_report(body, request.headers, request.path_params, now)
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
        if exc.status_code == 401:
            raise Unauthorized(str(exc), scheme="Signature") from exc
        raise BadRequest(str(exc)) from exc
    fresh = replay.first_seen(session, tenant_id, channel, parsed, now)
    outcome = service.apply_reports(session, tenant_id, channel, fresh, cfg.prices, now)
    return CallbackOutcome(
        applied=outcome.applied, late=outcome.late, unknown=outcome.unknown, replayed=len(parsed) - len(fresh)
    )


_CALLBACK_ERRORS = error_responses(400, 401, 404, 413)
_APP_EVENT = {
    "type": "object",
    "properties": {
        "message_id": {"type": "string", "maxLength": 200},
        "event": {"type": "string", "enum": ["delivered", "opened"]},
    },
    "required": ["message_id", "event"],
}


@router.post(
    "/v1/delivery/callbacks/{tenant_id}/{channel}",
    summary="Delivery reports from providers that sign them (e-mail events, Viber)",
    description="Each provider's own format and signature: a wrong or missing signature, or a signed time "
    "more than 10 minutes from ours, is 401; an event seen before is not applied again (`replayed`). Unknown "
    "message ids are answered 200 and logged; malformed bodies 400. SMS.ru has its own path (below).",
    response_model=CallbackOutcome,
    responses=_CALLBACK_ERRORS,
)
async def provider_callback(
    tenant_id: Annotated[int, Path(ge=0, le=MAX_ID)], channel: Channel, request: Request, session: SessionDep
) -> CallbackOutcome:
    if channel not in SIGNED_CALLBACK_CHANNELS:
        raise NotFound(
            "push events come from the app backend (POST /v1/delivery/app/events); SMS.ru calls "
            "/v1/delivery/callbacks/{tenant}/sms/{callback_secret}"
        )
    body = await request.body()
    # The database work is blocking: off the event loop, so a burst of callbacks never stalls the server.
    return await run_in_threadpool(_ingest_reports, session, tenant_id, channel, body, request)


@router.post(
    "/v1/delivery/callbacks/{tenant_id}/sms/{token}",
    summary="SMS.ru status callbacks (`data[]` lines), at the URL set in the SMS.ru account",
    description="SMS.ru cannot sign its callbacks and only calls a URL: `token` is the tenant's "
    "`callback_secret`, an unguessable path segment that the cloud's logs mask. Answered `100` as SMS.ru "
    "expects; an event seen before is not applied again.",
    response_model=None,
    responses={
        **_CALLBACK_ERRORS,
        200: {
            "description": "`100`, as SMS.ru expects",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
async def smsru_callback(
    tenant_id: Annotated[int, Path(ge=0, le=MAX_ID)],
    token: Annotated[str, Path(max_length=200)],
    request: Request,
    session: SessionDep,
) -> PlainTextResponse:
    body = await request.body()
    await run_in_threadpool(_ingest_reports, session, tenant_id, Channel.SMS, body, request)
    return PlainTextResponse("100")


@router.post(
    "/v1/delivery/app/events",
    summary="The retailer's app backend: a push was delivered to / opened on the device",
    description='`{"message_id": "projects/.../messages/...", "event": "delivered" | "opened"}` or a list.',
    response_model=CallbackOutcome,
    responses=error_responses(400, 401, 403, 404, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [_APP_EVENT, {"type": "array", "items": _APP_EVENT, "maxItems": 1000}]
                    }
                }
            },
        }
    },
)
async def app_events(request: Request, session: SessionDep, tenant: WritingTenant) -> Any:
    assert tenant.id is not None
    body = await request.body()
    return await run_in_threadpool(_ingest_reports, session, tenant.id, Channel.PUSH, body, request)


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
    responses=error_responses(404),
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
    since: Annotated[WireDateTime | None, Query(description="ISO 8601; default: 24 hours ago")] = None,
    until: Annotated[WireDateTime | None, Query(description="ISO 8601; default: now")] = None,
    store_id: int | None = None,
) -> dict[str, Any]:
    assert tenant.id is not None
    until = _aware(until) if until else utcnow() + timedelta(seconds=1)
    since = _aware(since) if since else until - timedelta(days=1)
    return reports.summary(session, tenant.id, since, until, store_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
