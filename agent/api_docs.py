"""The checkout API's reference at `/docs` from files on this machine.

FastAPI's default page pulls Swagger UI from a CDN: blank on a register without open internet, and third-party
script on a page where the POS token is typed. The `swagger-ui-py` package carries the same files.
"""

from pathlib import Path

import swagger_ui
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_ASSETS = Path(swagger_ui.__file__).parent / "static"


def install_api_docs(app: FastAPI) -> None:
    """Serve `/docs` with local assets; the app must be built with `docs_url=None`."""
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
