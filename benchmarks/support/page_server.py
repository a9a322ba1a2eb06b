"""The cloud's app as `echeck-cloud serve` builds it, plus a bare endpoint that returns a fixed page's bytes
(read once from ECHECK_BENCH_BARE_FILE) through the same middleware, routed as the page is: the ceiling a
page can reach on this server, for bench_pages to compare the e-receipt page against. And the same bytes
from an ordinary FastAPI route (a sync `def`, after the routers), as most of the cloud's routes are."""

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cloud.app import create_app
from cloud.pages.router import PAGE_HEADERS, KeptLinkRoute

BARE_FILE_ENV = "ECHECK_BENCH_BARE_FILE"
BARE_PATH = "/_bench/bare"
ORDINARY_PATH = "/_bench/ordinary"


def app() -> FastAPI:
    built = create_app()
    body = Path(os.environ[BARE_FILE_ENV]).read_bytes()

    async def bare(_request: Request) -> Response:
        return HTMLResponse(body, headers=PAGE_HEADERS)

    # Routed as the message link's page is (cloud.pages.router.KeptLinkRoute: an async route ahead of the
    # routers, no dependencies), right after it: the two differ by the page's own work only.
    routes = built.router.routes
    at = next(i for i, route in enumerate(routes) if isinstance(route, KeptLinkRoute)) + 1
    routes.insert(at, Route(BARE_PATH, bare, methods=["GET"], include_in_schema=False))

    @built.get(ORDINARY_PATH, include_in_schema=False)
    def ordinary() -> HTMLResponse:  # walks the routers, FastAPI's dependencies, the thread pool's hop
        return HTMLResponse(body, headers=PAGE_HEADERS)

    return built
