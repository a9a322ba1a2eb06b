"""The retailer-site tracker over HTTP: the script, the collector, and the sites API for integrations.

- `GET /t/{site_key}/t.js`: the tracker with the site's settings, cached by browsers for 10 minutes.
- `POST /t/{site_key}/collect` (and its CORS preflight): a browser's batch. CORS only for the site's
  registered origins; bots and bursts dropped; good events stored, bad ones named.
- `GET /v1/tracking/site`, `POST /v1/tracking/site/origins`, `DELETE /v1/tracking/site/origins`: the
  tenant's site key and origins, for an integration's API key (writes need the `write` scope).
Thin: the work is in `collector` (pure), `sites` and `store`.
"""

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from cloud.db.types import utcnow
from cloud.deps import CurrentTenant, SessionDep, WritingTenant
from cloud.errors import error_responses
from cloud.events import EventsTracked
from cloud.logs import event
from cloud.tracking import bots, collector, sites
from cloud.tracking.batch_store import Batch
from cloud.tracking.events import TrackedEvent
from cloud.tracking.store import record_events
from cloud.tracking.writer import BatchWriter

log = logging.getLogger("cloud.tracking")
router = APIRouter(tags=["tracking"])
browser = APIRouter(include_in_schema=False)  # what browsers call: no part of the integrations' contract

SCRIPT = Path(__file__).parent / "static" / "tracker.js"
BID_COOKIE = "ec_bid"
TWO_YEARS_S = 2 * 365 * 24 * 3600
_CORS_HEADERS = "Content-Type"


@lru_cache(maxsize=1)
def _script_source() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def tracker_script(site_key: str) -> str:
    config = orjson.dumps({"key": site_key, "v": 1}).decode()
    return _script_source().replace("__EC_CONFIG__", config, 1)


def _site_cache(request: Request) -> sites.SiteCache:
    cache: sites.SiteCache | None = getattr(request.app.state, "tracking_sites", None)
    if cache is None:
        cache = request.app.state.tracking_sites = sites.SiteCache(request.app.state.engine)
    return cache


def _limiter(request: Request) -> collector.SourceLimiter:
    limiter: collector.SourceLimiter | None = getattr(request.app.state, "tracking_limiter", None)
    if limiter is None:
        limiter = request.app.state.tracking_limiter = collector.SourceLimiter()
    return limiter


def _error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **more: object
) -> Response:
    return JSONResponse({"detail": detail, "code": code, **more}, status_code=status, headers=headers)


def _request_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        try:
            return sites.normalize_origin(referer.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[0] + "/")
        except Exception:
            return None
    return None


def _allowed_origin(site: sites.Site, request: Request) -> str | None:
    origin = _request_origin(request)
    if origin is None:
        return None
    try:
        normalized = sites.normalize_origin(origin)
    except Exception:
        return None
    return origin if normalized in site.origins else None


def _first_party(request: Request, origin: str) -> bool:
    """The browser addressed the collector on the page's own host: the retailer proxies the path, and a
    cookie we set lands on the retailer's domain (docs/tracking.md, "First-party collector")."""
    addressed = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    host = addressed.split(",", 1)[0].strip().lower()
    return bool(host) and origin.split("://", 1)[-1].lower() == host


@browser.get("/t/{site_key}/t.js")
@browser.get("/t/{site_key}.js")
def get_script(site_key: str, request: Request) -> Response:
    site = _site_cache(request).get(site_key)
    if site is None:
        return Response("/* echeck: unknown site key */\n", 404, media_type="text/javascript")
    return Response(
        tracker_script(site.site_key),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=600", "X-Content-Type-Options": "nosniff"},
    )


@browser.options("/t/{site_key}/collect")
def preflight(site_key: str, request: Request) -> Response:
    site = _site_cache(request).get(site_key)
    if site is None:
        return _error(404, "not_found", "unknown site key")
    origin = _allowed_origin(site, request)
    if origin is None:
        return _error(403, "origin_not_allowed", "this origin is not registered for the site")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": _CORS_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )


async def collect(request: Request) -> Response:
    """`POST /t/{site_key}/collect`: a plain Starlette route (added below), not a FastAPI one: it reads the
    raw body itself and has no int parameter for the app-wide bound check, so FastAPI's dependency solving
    on every request would be work for nothing."""
    site = _site_cache(request).get(request.path_params["site_key"])
    if site is None:
        return _error(404, "not_found", "unknown site key")
    origin = _allowed_origin(site, request)
    if origin is None:
        return _error(403, "origin_not_allowed", "this origin is not registered for the site")
    cors = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }
    body = await request.body()
    try:
        parsed = collector.parse_batch(body)
    except collector.BadBatch as exc:
        return _error(400 if exc.field == "body" else 422, "invalid_batch", str(exc), cors, field=exc.field)
    headers = {k.lower(): v for k, v in request.headers.items()}
    reason = bots.classify(request.headers.get("user-agent"), headers)
    if reason is not None:
        event(log, logging.INFO, "tracking.bot_dropped", reason=reason, events=len(parsed.events))
        return Response(status_code=204, headers=cors)
    client = request.client.host if request.client else None
    wait = _limiter(request).take(collector.source_of(client, headers), max(1, len(parsed.events)))
    if wait:
        event(log, logging.INFO, "tracking.rate_limited", events=len(parsed.events))
        return _error(
            429,
            "rate_limited",
            "too many events from this source",
            cors | {"Retry-After": str(int(wait) + 1)},
        )
    first_party = _first_party(request, origin)
    cookie_bid = collector.valid_browser_id(request.cookies.get(BID_COOKIE)) if first_party else None
    browser_id = cookie_bid
    if first_party and browser_id is None:
        browser_id = next((e.bid for e in parsed.events if e.bid), None) or collector.new_browser_id()
    if parsed.events:
        events = collector.to_events(
            parsed.events,
            tenant_id=site.tenant_id,
            keys=request.app.state.identity_keys,
            click_ids=request.app.state.click_ids,
            received_at=utcnow(),
            browser_id=browser_id,
        )
        writer: BatchWriter | None = getattr(request.app.state, "tracking_writer", None)
        if writer is not None:  # PostgreSQL: with other browsers' batches, in one statement
            await writer.write(_batch(request, events))
        else:
            await run_in_threadpool(_store, request, events)
    response: Response
    if not parsed.rejected:
        response = Response(status_code=204, headers=cors)
    else:
        rejected = [r.as_json() for r in parsed.rejected]
        if parsed.events:
            response = JSONResponse({"stored": len(parsed.events), "rejected": rejected}, 200, headers=cors)
        else:
            first = parsed.rejected[0]
            response = _error(
                422, "invalid_events", f"{first.field}: {first.detail}", cors, stored=0, rejected=rejected
            )
    if first_party and browser_id is not None:
        response.set_cookie(
            BID_COOKIE,
            browser_id,
            max_age=TWO_YEARS_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=origin.startswith("https://"),
        )
    return response


browser.add_route("/t/{site_key}/collect", collect, methods=["POST"])


def _batch(request: Request, events: list[TrackedEvent]) -> Batch:
    """The batch for the writer, with identity's job rows (EventsTracked) in case a new event links."""
    linked = [collector.links_identity((e,)) for e in events]
    jobs = []
    if any(linked):
        # The statement adds `event_ids` (the new ones only known there); a job's lock is computed without
        # them, which holds while no subscriber of EventsTracked locks by its event ids.
        args = EventsTracked(events[0].tenant_id, ()).as_args()
        jobs = [job.deferred_row(args) for job in request.app.state.bus.subscribers(EventsTracked)]
    return Batch(events, linked, jobs)


def _store(request: Request, events: list[TrackedEvent]) -> None:
    """SQLite: the batch in a session, and EventsTracked published in its transaction."""
    state = request.app.state
    with Session(state.engine) as session:
        # docs/tracking.md, "Durability": the browser retries nothing after a 204, so the commit does not
        # wait for the WAL flush (set by the insert itself: one round trip fewer)
        fresh = record_events(session, events, wait_for_commit=False)
        if fresh and collector.links_identity(fresh):
            request.app.state.bus.publish(
                session, EventsTracked(fresh[0].tenant_id, tuple(e.event_id for e in fresh))
            )
        session.commit()


class SiteOut(BaseModel):
    site_key: str = Field(examples=["s_4kT9xQ2mLp0aZr7w"])
    origins: list[str] = Field(examples=[["https://shop.example"]])
    script_path: str = Field(description="Where the tracker is served, under the cloud's URL")
    collect_path: str


class OriginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origin: str = Field(min_length=8, max_length=255, examples=["https://shop.example"])


def _out(site: sites.Site) -> SiteOut:
    return SiteOut(
        site_key=site.site_key,
        origins=list(site.origins),
        script_path=f"/t/{site.site_key}/t.js",
        collect_path=f"/t/{site.site_key}/collect",
    )


@router.get(
    "/v1/tracking/site",
    response_model=SiteOut,
    summary="The retailer's tracked site: its key (in the script's URL) and origins allowed to send events",
    responses=error_responses(401, 404),
)
def get_site(session: SessionDep, tenant: CurrentTenant) -> SiteOut:
    assert tenant.id is not None
    return _out(sites.tenant_site(session, tenant.id))


@router.post(
    "/v1/tracking/site/origins",
    response_model=SiteOut,
    summary="Allow an origin (https://shop.example) to send events; makes the site and its key on first use",
    responses=error_responses(401, 403, 409, 422),
)
def post_origin(body: OriginIn, request: Request, session: SessionDep, tenant: WritingTenant) -> SiteOut:
    assert tenant.id is not None
    site = sites.add_origin(session, tenant.id, body.origin)
    _site_cache(request).forget()
    return _out(site)


@router.delete(
    "/v1/tracking/site/origins",
    response_model=SiteOut,
    summary="Stop accepting events from an origin",
    responses=error_responses(401, 403, 404, 422),
)
def delete_origin(
    request: Request,
    session: SessionDep,
    tenant: WritingTenant,
    origin: Annotated[str, Query(min_length=8, max_length=255)],
) -> SiteOut:
    assert tenant.id is not None
    site = sites.remove_origin(session, tenant.id, origin)
    _site_cache(request).forget()
    return _out(site)
