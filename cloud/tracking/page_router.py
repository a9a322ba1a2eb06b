"""Head office's JSON API of the e-receipt page's figures (reports permission; tenant- and store-scoped)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from cloud.accounts.scope import tenant_store_ids
from cloud.db.types import utcnow
from cloud.deps import ReportReader, SessionDep
from cloud.errors import InvalidInput, NotFound, error_responses
from cloud.tracking.page_reports import Scope, page_summary
from sync.protocol import WireDateTime

router = APIRouter(tags=["pages"])
MAX_PERIOD = timedelta(days=366)
MAX_ID = 2**63 - 1


@router.get(
    "/v1/pages/summary",
    summary="E-receipt pages per period and stores: fetches, opens, open rate, clicks, CTR per block",
    description="An open is a receipt a person looked at (the page's script reported it; bots, scanners "
    "and bare fetches never count), however often it was reloaded; a click is a (receipt, block) a "
    "person followed after opening it. `fetches` counts every GET of the page, bots included. "
    "`open_rate` is opens over receipts whose message a provider accepted in the period.",
    responses=error_responses(401, 403, 404, 422),
)
def pages_summary(
    session: SessionDep,
    caller: ReportReader,
    since: Annotated[WireDateTime | None, Query(description="ISO 8601; default: 7 days before until")] = None,
    until: Annotated[WireDateTime | None, Query(description="ISO 8601; default: now")] = None,
    store_id: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(description="only these stores (repeat the parameter)", max_length=500),
    ] = None,
) -> dict[str, Any]:
    end = _aware(until) if until else utcnow() + timedelta(seconds=1)
    start = _aware(since) if since else end - timedelta(days=7)
    if not timedelta(0) < end - start <= MAX_PERIOD:
        raise InvalidInput("the period must be positive and at most 366 days")
    stores: frozenset[int] | None = caller.store_ids
    if store_id:
        for sid in store_id:
            caller.require_store(sid)  # outside the caller's scope: 404, as for another tenant's store
        stores = frozenset(store_id)
        if set(tenant_store_ids(session, caller.tenant_id, stores)) != stores:
            raise NotFound("store not found for this tenant")
    return page_summary(session, Scope(caller.tenant_id, start, end, stores))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
