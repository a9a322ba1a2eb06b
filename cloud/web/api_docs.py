"""The interactive API reference at `/docs`, served entirely by the cloud.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script: the cloud's CSP
(no CDN, no inline script) refuses both and the page stays blank. Here the assets come from the
`swagger-ui-py` package (mounted at /static/swagger) and the start script is our own file.
"""

from pathlib import Path

import swagger_ui
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

SWAGGER_ASSETS = Path(swagger_ui.__file__).parent / "static"


def install_api_docs(app: FastAPI) -> None:
    """Mount the Swagger UI assets and answer `/docs`; the app must be built with `docs_url=None`."""
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_ASSETS), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        openapi_url = request.scope.get("root_path", "") + (app.openapi_url or "/openapi.json")
        return HTMLResponse(
            f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{app.title} — API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""
        )
