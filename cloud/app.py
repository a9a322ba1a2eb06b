"""The cloud's ASGI application. `create_app` has no import-time side effects: no engine, no migration."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from cloud import openapi_contract
from cloud.accounts.admin_web import router as admin_web_router
from cloud.accounts.web import router as sign_in_router
from cloud.attribution.router import router as attribution_router
from cloud.body_limit import BodyLimitMiddleware
from cloud.bootstrap import bootstrap
from cloud.db.engine import make_engine
from cloud.delivery.router import router as delivery_router
from cloud.deps import PageServices
from cloud.errors import install_error_handlers
from cloud.fleet.health import FleetPolicy
from cloud.fleet.router import router as fleet_router
from cloud.fleet.web import router as fleet_web_router
from cloud.identity.router import router as identity_router
from cloud.identity.web import router as identity_web_router
from cloud.ingest.router import router as ingest_router
from cloud.jobs import WorkerOptions
from cloud.pages.editor import router as page_editor_router
from cloud.pages.kept_reader import KeptReader
from cloud.pages.kept_writer import KeptWriter
from cloud.pages.promo.router import router as promo_router
from cloud.pages.router import KeptLinkRoute
from cloud.pages.router import api as pages_api
from cloud.pages.router import router as pages_router
from cloud.param_bounds import int_params_fit
from cloud.privacy.keys import load_identity_keys
from cloud.privacy.router import router as privacy_router
from cloud.reports.router import api as reports_api
from cloud.reports.router import router as reports_router
from cloud.request_gzip import GzipRequestMiddleware
from cloud.settings import load_settings
from cloud.tracking.batch_store import collector_engine
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.page_events import ViewTokens
from cloud.tracking.page_router import router as page_reports_router
from cloud.tracking.router import browser as tracker_router
from cloud.tracking.router import router as tracking_router
from cloud.tracking.writer import BatchWriter
from cloud.web.api_docs import install_api_docs
from cloud.web.install import install_web

DESCRIPTION = """
The central service of echeck. Registers (agents) enroll with a one-time code, then send closed
receipts in batches with their own bearer token; integrations read (and write) with scoped API keys,
head-office people sign in with e-mail and password.

Wire protocol v1 (`sync.protocol`): JSON, money in integer kopecks, idempotent by the receipt's natural key
(FN serial + FD number + FPD). Errors are `{"detail", "code"}`: `detail` a sentence, or FastAPI's list of
field errors (422, code `invalid_request`); `code` a stable snake_case name for programs.
"""


def create_app(database_url: str | None = None) -> FastAPI:
    """Build the app. The database URL defaults to `ECHECK_DATABASE_URL`, else the SQLite default.

    Migrations are not run here (`echeck-cloud serve` runs them once before starting workers; tests call
    `cloud.db.migrate(url)`), so several workers never race to migrate.
    """
    settings = load_settings(database_url)
    engine = make_engine(settings.database_url, request_threads=settings.db_pool)
    # The bus (ingest publishes "receipt stored" on it) and every capability's job handlers.
    runtime = bootstrap(engine, settings.public_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # FastAPI runs sync routes in anyio's thread pool (40 by default): match it to the database pool
        # so a burst queues here rather than opening PostgreSQL sessions that are closed right after.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool
        # `echeck-cloud serve` asks for an in-process job worker (the only one on SQLite).
        if settings.job_worker:
            runtime.worker(WorkerOptions(name="jobs-inprocess")).start()
        if kept_reader is not None:
            await kept_reader.open()  # on this process's event loop, where the pages read through it
        yield
        if kept_reader is not None:
            await kept_reader.close()
        if app.state.kept_writer is not None:
            await app.state.kept_writer.flush()
        for worker in runtime.workers:
            worker.stop()
        runtime.close()
        engine.dispose()
        if app.state.tracking_engine is not None:
            app.state.tracking_engine.dispose()

    app = FastAPI(
        title="echeck cloud",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_api_docs from the cloud's own assets (no CDN)
        redoc_url=None,  # ReDoc would load from a CDN too; /docs is the one reference
        dependencies=[Depends(int_params_fit)],  # every int path/query parameter fits in 64 bits, or 422
    )
    app.state.settings = settings
    app.state.identity_keys = load_identity_keys(settings.database_url)
    app.state.click_ids = ClickIds(app.state.identity_keys.keys.values())
    app.state.view_tokens = ViewTokens(app.state.identity_keys.keys.values())
    app.state.engine = engine
    # The collector's writer on PostgreSQL: browsers' batches grouped into one statement each, on autocommit
    # connections of its own (no pre-ping).
    app.state.tracking_engine = (
        collector_engine(settings.database_url, connections=2)
        if engine.dialect.name == "postgresql"
        else None
    )
    app.state.tracking_writer = BatchWriter(app.state.tracking_engine) if app.state.tracking_engine else None
    # Pages kept rendered (cloud.pages.kept), written after their answer, many per statement (PostgreSQL).
    app.state.kept_writer = KeptWriter(engine) if app.state.tracking_engine else None
    kept_reader = KeptReader(settings.database_url) if app.state.tracking_engine else None
    app.state.page_services = PageServices(
        engine,
        app.state.identity_keys,
        app.state.view_tokens,
        app.state.click_ids,
        app.state.tracking_writer,
        app.state.kept_writer,
        kept_reader,
    )
    app.state.bus = runtime.bus
    app.state.fleet_policy = FleetPolicy.from_env()
    # A message link's page before any router: the busiest route of all (cloud.pages.router.KeptLinkRoute).
    app.router.routes.append(KeptLinkRoute())
    # Then the retailer-site tracker: browsers call its collector hundreds of times a second, and a
    # request walks the routers in this order until one matches (its paths, /t/..., are nobody else's).
    app.include_router(tracker_router)  # the retailer-site tracker: script and collector (browsers)
    app.include_router(fleet_router)
    app.include_router(fleet_web_router)  # the head-office fleet page (HTML)
    app.include_router(sign_in_router)  # head office: sign-in, invitations
    app.include_router(admin_web_router)  # head office: users, API keys, audit log
    app.include_router(reports_router)  # head office: dashboards and their exports (HTML, CSV, XLSX, PDF)
    app.include_router(reports_api)  # the read API of the dashboards' tables, for the tenant's BI
    app.include_router(ingest_router)
    app.include_router(delivery_router)
    app.include_router(privacy_router)
    app.include_router(pages_router)  # the buyer's e-receipt pages
    app.include_router(page_reports_router)  # head office: the pages' fetches, opens, clicks
    app.include_router(pages_api)  # the buyers' answers for the CRM
    app.include_router(page_editor_router)  # head office: the e-receipt template editor (HTML)
    app.include_router(promo_router)  # promo codes: the POS's check and redeem, head office's rules
    app.include_router(tracking_router)  # the tracked site's key and origins (integrations)
    app.include_router(identity_router)  # head office: profiles, why, split
    app.include_router(attribution_router)  # head office: ROPO summary, a holdout's lift (JSON)
    app.include_router(identity_web_router)  # the head-office identity page (HTML)
    app.add_middleware(GzipRequestMiddleware)  # agents send receipt batches gzip-compressed
    app.add_middleware(BodyLimitMiddleware)  # outermost: every body is limited before anything reads it

    install_error_handlers(app)
    install_api_docs(app)  # /docs: Swagger UI from /static/swagger, before /static is mounted
    install_web(app)  # static assets, security headers on HTML, sign-in redirects
    openapi_contract.install(app)  # what the frame adds to every route, in the contract too

    @app.get("/healthz", tags=["ops"], summary="Liveness and database reachability")
    def healthz(request: Request) -> Any:
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any driver error means "not reachable" for the load balancer
            return JSONResponse(
                status_code=503,
                content={"status": "error", "database": "unreachable", "error": type(exc).__name__},
            )
        return {"status": "ok", "database": "ok"}

    return app
