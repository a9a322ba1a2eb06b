"""Attribution's thin JSON read API (tenant-scoped, the `reports` permission: an API key with the `read`
scope or an analyst): the headline ROPO figures of a period, and a holdout's lift from counts.

- `GET /v1/attribution/summary?from=&to=&model=`: `reads.summary` over the stored attribution (receipts,
  identified share, ROPO shares, credit per channel), in the caller's stores;
- `GET /v1/attribution/lift?treated_buyers=&treated_n=&holdout_buyers=&holdout_n=`: `lift.rate_lift` of
  counts the caller measured (a campaign's exposed buyers and holdout, and how many of each bought).
"""

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cloud.attribution import lift, reads, sources
from cloud.attribution.models import DEFAULT_MODEL, Model
from cloud.db.types import utcnow
from cloud.deps import ReportReader, SessionDep
from cloud.errors import InvalidInput, error_responses

router = APIRouter(tags=["attribution"])

MAX_DAYS = 400  # a period longer than this is refused (a year and a bit)


@router.get(
    "/v1/attribution/summary",
    summary="ROPO headline figures of a period: identified share, ROPO shares, credit per channel",
    description="Over the attribution jobs' stored days (local days of the stores; default: the last 30 "
    "days to today), in the caller's stores. `days_dirty` counts days waiting to be attributed again.",
    responses=error_responses(401, 403, 422),
)
def get_summary(
    session: SessionDep,
    caller: ReportReader,
    start: Annotated[
        date | None, Query(alias="from", description="first local day (default: to − 30)")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="last local day (default: today)")] = None,
    model: Model = DEFAULT_MODEL,
) -> dict[str, Any]:
    today = utcnow().astimezone(sources.zone(None)).date()
    end = end or today
    start = start or max(date.min, end - timedelta(days=min(30, (end - date.min).days)))
    if start > end or (end - start).days > MAX_DAYS:
        raise InvalidInput(f"the period must run forwards and span at most {MAX_DAYS} days")
    filters = reads.Filters(start, end, store_ids=caller.store_ids)
    return reads.summary(session, caller.tenant_id, filters, model)


@router.get(
    "/v1/attribution/lift",
    summary="A holdout's lift on a conversion rate, with its confidence interval",
    description="Treated (exposed) buyers and how many bought against the holdout's: the absolute lift "
    "(Newcombe's hybrid score interval) and the relative one (Katz's log interval).",
    responses=error_responses(401, 403, 422),
)
def get_lift(
    caller: ReportReader,
    treated_buyers: Annotated[int, Query(ge=0, le=10**9)],
    treated_n: Annotated[int, Query(ge=1, le=10**9)],
    holdout_buyers: Annotated[int, Query(ge=0, le=10**9)],
    holdout_n: Annotated[int, Query(ge=1, le=10**9)],
    confidence: Annotated[float, Query(ge=0.5, le=0.999)] = 0.95,
) -> dict[str, Any]:
    del caller  # the permission is the check; the figures are the caller's own
    try:
        found = lift.rate_lift(treated_buyers, treated_n, holdout_buyers, holdout_n, confidence)
    except lift.LiftInputError as exc:
        raise InvalidInput(str(exc)) from exc
    return {**asdict(found), "method": found.method.value, "significant": found.significant}
