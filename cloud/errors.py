"""The cloud's one error tree and the one place that turns it into HTTP answers.

Service functions raise these; routers never catch and re-map them. Every error answer has one documented
shape, `ErrorBody`: `{"detail": "<a sentence for the person who made the request>", "code": "<snake_case>"}`;
request validation (422) keeps FastAPI's list of field errors in `detail` with code `invalid_request`, so
a client can always read `code` first and show `detail`.

Modelled on httpx's `_exceptions.py`: a small hierarchy by what the caller can do about it, not by module.
"""

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("cloud.errors")

# No template: the page that says "our fault" must not depend on what may have just failed.
_SERVER_ERROR_PAGE = (
    '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Ошибка сервера</title></head>'
    '<body style="font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em">'
    "<h1>Что-то пошло не так</h1><p>Ошибка на нашей стороне, ваши данные не потеряны. "
    "Обновите страницу через минуту; если ошибка повторяется, сообщите в поддержку.</p></body></html>"
)


class CloudError(Exception):
    """Something the cloud will not do for this request; the message is meant for the caller."""

    status_code: int = 500  # a class's default; an instance may say more precisely (`BadReport`)
    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class BadRequest(CloudError):
    status_code = 400
    code = "bad_request"


class InvalidInput(CloudError):
    """Well-formed JSON whose values the service refuses (a policy that does not parse, a bad price)."""

    status_code = 422
    code = "invalid_value"


class InvalidSetting(InvalidInput):
    """A tenant setting that cannot be used (a cascade policy, a price, a channel's settings); the
    sentence says what to fix. Raised by service functions for the API and the CLI alike."""

    code = "invalid_setting"


class Unauthorized(CloudError):
    """No credential, or one the cloud does not know."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str, *, scheme: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": scheme})


class SignInRequired(Unauthorized):
    """A head-office page asked for without a live session: pages answer with the sign-in form."""

    code = "sign_in_required"

    def __init__(self, detail: str = "войдите, чтобы продолжить") -> None:
        super().__init__(detail, scheme="Cookie")


class Forbidden(CloudError):
    """A known caller asking for what its role, scope or store does not allow."""

    status_code = 403
    code = "forbidden"


class PageForbidden(Forbidden):
    """A signed-in user's role does not allow a head-office page: answered with the 403 page."""


class RegisterRevoked(Forbidden):
    """The register's token was revoked (or replaced by re-enrollment): the agent keeps its queue."""

    code = "register_revoked"


class NotFound(CloudError):
    status_code = 404
    code = "not_found"


class Conflict(CloudError):
    status_code = 409
    code = "conflict"


class Gone(CloudError):
    """It existed but can no longer be used (an expired or used enrollment code, an old link)."""

    status_code = 410
    code = "gone"


class PromoUnknown(NotFound):
    """No such promo code at this tenant (a typo, or another retailer's code)."""

    code = "promo_unknown"


class PromoExpired(Gone):
    code = "promo_expired"


class PromoNotStarted(Conflict):
    """The code is genuine but works only from its start time (a rule with a start delay)."""

    code = "promo_not_started"


class PromoRedeemed(Conflict):
    """The code was redeemed already, by another purchase (a retry with the same idempotency key is not
    this: it gets the first redemption back)."""

    code = "promo_already_redeemed"


class PayloadTooLarge(CloudError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(CloudError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class ServiceUnavailable(CloudError):
    status_code = 503
    code = "unavailable"


class BadReport(BadRequest):
    """A provider's delivery report (callback) the cloud cannot accept: 400 malformed, 401 when its
    signature or secret is wrong."""

    code = "bad_report"

    def __init__(self, detail: str, status_code: int = 400) -> None:
        super().__init__(detail)
        self.status_code = status_code


class ProviderError(CloudError):
    """A provider (SMTP, FCM, Viber, SMS.ru) did not take a message. Raised inside delivery's jobs, never
    to a caller: transient ones are retried with backoff within the step's deadline."""

    status_code = 502
    code = "provider_error"

    def __init__(
        self, detail: str, transient: bool, retry_after_s: float | None = None, unregistered: bool = False
    ) -> None:
        super().__init__(detail)
        self.transient = transient
        self.retry_after_s = retry_after_s
        self.unregistered = unregistered  # push: the device token is dead, forget it


class ErrorBody(BaseModel):
    """Every error answer of the cloud."""

    detail: str | list[dict[str, Any]] = Field(
        description="A sentence saying what went wrong and what to do; for 422, FastAPI's field errors."
    )
    code: str = Field(description="Stable machine-readable reason, e.g. `register_revoked`.")


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: the statuses it can answer besides success, all as `ErrorBody`."""
    return {code: {"model": ErrorBody} for code in status_codes}


def json_error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """The same for a route whose success is not JSON (`response_class=PlainTextResponse`): FastAPI would
    document its errors in the route's media type, but the error handler always answers JSON."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}  # in components through the routes above
    return {
        code: {"description": "Error", "content": {"application/json": {"schema": schema}}}
        for code in status_codes
    }


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods = {
        method
        for route in app.router.routes
        if isinstance(route, APIRoute) and route.path_regex.match(path)
        for method in route.methods or ()
    }
    return sorted(methods)


def _body(detail: Any, code: str) -> dict[str, Any]:
    return {"detail": detail, "code": code}


def install_error_handlers(app: FastAPI) -> None:
    """The one mapping from exceptions to answers; the app factory calls this once."""

    @app.exception_handler(CloudError)
    async def cloud_error(_request: Request, exc: CloudError) -> Response:
        return JSONResponse(_body(exc.detail, exc.code), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(_body(errors, "invalid_request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's own answers (unknown path, wrong method) and any HTTPException from a dependency.
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; a path served by several
            # routes (GET and POST /v1/privacy/erasures) allows the methods of all of them.
            headers["Allow"] = ", ".join(_allowed_methods(_request.app, _request.url.path))
        return JSONResponse(_body(detail, code), status_code=exc.status_code, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(_request: Request, _exc: ClientDisconnect) -> Response:
        # A caller that hung up mid-body (a provider's callback timing out, an agent killed mid-batch) is
        # not a server error: nothing was stored, the sender retries. No traceback in the log for it.
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug, not the caller's fault: the documented error shape (or a page for a browser) instead of
        # Starlette's bare text, and one log line store IT can search by path (uvicorn logs the traceback
        # when Starlette re-raises after this answer).
        where = {"method": request.method, "path": request.url.path, "error": type(exc).__name__}
        log.error("unhandled error", extra={"fields": where})
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_SERVER_ERROR_PAGE, status_code=500)
        detail = "внутренняя ошибка сервера; запрос можно повторить позже"
        return JSONResponse(_body(detail, "internal_error"), status_code=500)
