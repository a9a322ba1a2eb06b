"""The cloud's app as `echeck-cloud serve` builds it, plus one bare endpoint that returns a fixed page's
bytes (read once from ECHECK_BENCH_BARE_FILE) through the same middleware: the ceiling a page can reach
on this server, for bench_pages to compare the e-receipt page against."""

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from cloud.app import create_app

BARE_FILE_ENV = "ECHECK_BENCH_BARE_FILE"
BARE_PATH = "/_bench/bare"


def app() -> FastAPI:
    built = create_app()
    body = Path(os.environ[BARE_FILE_ENV]).read_bytes()

    @built.get(BARE_PATH, include_in_schema=False)
    def bare() -> HTMLResponse:  # a sync route, like the page's: the same thread pool hop
        return HTMLResponse(body)

    return built
