"""The cloud's ASGI application. `create_app` has no import-time side effects: no engine, no migration."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from cloud import openapi_contract
from cloud.body_limit import BodyLimitMiddleware
from cloud.db.engine import make_engine
from cloud.delivery.router import router as delivery_router
from cloud.delivery.worker import DeliveryWorker, WorkerOptions
from cloud.errors import install_error_handlers
from cloud.fleet.health import FleetPolicy
from cloud.fleet.router import router as fleet_router
from cloud.fleet.web import router as fleet_web_router
from cloud.ingest.router import router as ingest_router
from cloud.pages.router import router as pages_router
from cloud.param_bounds import int_params_fit
from cloud.request_gzip import GzipRequestMiddleware
from cloud.settings import load_settings

DESCRIPTION = """
The central service of echeck. Registers (agents) enroll with a one-time code, then send closed
receipts in batches with their own bearer token; head office reads with the tenant's api key.

Wire protocol v1 (`sync.protocol`): JSON, money in integer kopecks, idempotent by the receipt's natural key
(FN serial + FD number + FPD). Errors carry `detail`: a sentence, or FastAPI's list of field errors (422).
"""


def create_app(database_url: str | None = None) -> FastAPI:
    """Build the app. The database URL defaults to `ECHECK_DATABASE_URL`, else the SQLite default.

    Migrations are not run here (`echeck-cloud serve` runs them once before starting workers; tests call
    `cloud.db.migrate(url)`), so several workers never race to migrate.
    """
    settings = load_settings(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `echeck-cloud serve` asks for an in-process delivery worker (the only one on SQLite).
        worker = None
        if settings.delivery_worker:
            options = WorkerOptions(public_url=settings.public_url)
            worker = DeliveryWorker(app.state.engine, options, name="delivery-inprocess").start()
        yield
        if worker is not None:
            worker.stop()
            worker.close()
        app.state.engine.dispose()

    app = FastAPI(
        title="echeck cloud",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(int_params_fit)],  # every int path/query parameter fits in 64 bits, or 422
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.fleet_policy = FleetPolicy.from_env()
    app.include_router(fleet_router)
    app.include_router(fleet_web_router)  # the head-office fleet page (HTML)
    app.include_router(ingest_router)
    app.include_router(delivery_router)
    app.include_router(pages_router)  # the buyer's e-receipt pages
    app.add_middleware(GzipRequestMiddleware)  # agents send receipt batches gzip-compressed
    app.add_middleware(BodyLimitMiddleware)  # outermost: every body is limited before anything reads it

    install_error_handlers(app)
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
