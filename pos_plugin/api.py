"""The localhost checkout API: a thin FastAPI router over a `CheckoutPort`.

POS software calls it on 127.0.0.1 with the POS token (`Authorization: Bearer <token>`; store IT gets it
from `echeck-agent pos-token`). Errors always carry a sentence in `detail` a POS developer can show or
log: 401 missing or wrong token, 404 unknown checkout, 409 out-of-order call, 422 bad input, 429 too many
open checkouts, 507 receipt not queued.

Client snippet (Python, httpx):

    pos = httpx.Client(base_url="http://127.0.0.1:8765/pos/v1",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
    cid = pos.post("/checkouts", json={"checkout_id": "T1-000123"}).json()["checkout_id"]

curl: `curl -H "Authorization: Bearer $TOKEN" -d '{}' -H 'content-type: application/json'
http://127.0.0.1:8765/pos/v1/checkouts`
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pos_plugin.contract import (
    CardRequest,
    CheckoutConflict,
    CheckoutNotFound,
    CheckoutPort,
    CheckoutView,
    CloseRequest,
    CloseResult,
    ContactPrompt,
    ContactRequest,
    OpenRequest,
    ReceiptNotQueued,
    TooManyCheckouts,
)
from receipts import InvalidContact, InvalidReceipt

PREFIX = "/pos/v1"
MAX_ASK_WAIT_S = 120.0  # a till never waits longer than this on the cashier's popup
# Every error answer: `detail` is a sentence, or (422 on a malformed request) FastAPI's list of field errors.
_PROBLEM = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
            },
            "required": ["detail"],
        }
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not UTF-8 JSON", "content": _PROBLEM},
    401: {"description": "The POS token is missing where one is required, or wrong", "content": _PROBLEM},
    404: {"description": "No such checkout", "content": _PROBLEM},
    409: {"description": "The call does not fit the checkout's state", "content": _PROBLEM},
    422: {
        "description": "A field is invalid (a list) or a value is refused (a sentence)",
        "content": _PROBLEM,
    },
}
POS_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="POS token",
    description="`Authorization: Bearer <token>`; store IT prints the token with `echeck-agent pos-token`. "
    "Required when the agent listens beyond 127.0.0.1 or its config says `require_pos_token = true`; a "
    "token that is sent is always checked.",
)
# Says whether a presented token (None: none sent) may call the API.
Authorize = Callable[[str | None], bool]


def build_router(
    get_port: Callable[[], CheckoutPort], authorize: Authorize = lambda _token: True
) -> APIRouter:
    async def require_token(  # async: a sync dependency would take one of the API's few threads
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(POS_TOKEN)],
    ) -> None:
        if not authorize(credentials.credentials if credentials else None):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the checkout API needs the POS token: send `Authorization: Bearer <token>`; store IT gets "
                "it with `echeck-agent pos-token`",
                headers={"WWW-Authenticate": "Bearer"},
            )

    PortDep = Annotated[CheckoutPort, Depends(get_port)]  # noqa: N806 - a type alias, named as one
    router = APIRouter(
        prefix=PREFIX, tags=["checkout"], responses=_ERRORS, dependencies=[Depends(require_token)]
    )

    @router.post(
        "/checkouts",
        status_code=status.HTTP_201_CREATED,
        summary="Open a checkout",
        responses={429: {"description": "Too many checkouts open at once: close or cancel the stale ones"}},
    )
    def open_checkout(body: OpenRequest, port: PortDep) -> CheckoutView:
        return port.open(body)

    @router.get("/checkouts/{checkout_id}", summary="A checkout's state")
    def get_checkout(checkout_id: str, port: PortDep) -> CheckoutView:
        return port.get(checkout_id)

    @router.post("/checkouts/{checkout_id}/card", summary="Attach a scanned loyalty card")
    def attach_card(checkout_id: str, body: CardRequest, port: PortDep) -> CheckoutView:
        return port.attach_card(checkout_id, body)

    @router.post(
        "/checkouts/{checkout_id}/ask-contact",
        summary="Ask for the buyer's contact",
        description="Without `wait`: returns what to ask (confirm a known card holder's masked phone, enter "
        "one, or nothing) for a POS that shows its own dialog. With `wait=S`: the agent asks the cashier in "
        "its own popup and answers within S seconds with `answer` (timed_out when no UI answered).",
    )
    def ask_contact(
        checkout_id: str,
        port: PortDep,
        wait: Annotated[float | None, Query(gt=0, le=MAX_ASK_WAIT_S, description="seconds")] = None,
    ) -> ContactPrompt:
        if wait is None:
            return port.ask_contact(checkout_id)
        return port.ask_cashier(checkout_id, wait)

    @router.post("/checkouts/{checkout_id}/contact", summary="Set the buyer's contact, or skip")
    def set_contact(checkout_id: str, body: ContactRequest, port: PortDep) -> CheckoutView:
        return port.set_contact(checkout_id, body)

    @router.post(
        "/checkouts/{checkout_id}/close",
        summary="Close with the fiscal register's data",
        description="Queues the receipt durably. Repeating a close with the same fiscal data is harmless.",
        responses={507: {"description": "Printed but not queued: disk full or database error"}},
    )
    def close_checkout(checkout_id: str, body: CloseRequest, port: PortDep) -> CloseResult:
        return port.close(checkout_id, body)

    @router.post("/checkouts/{checkout_id}/cancel", summary="Cancel the checkout")
    def cancel_checkout(checkout_id: str, port: PortDep) -> CheckoutView:
        return port.cancel(checkout_id)

    return router


def install_error_handlers(app: FastAPI) -> None:
    def handler(code: int) -> Callable[[Request, Exception], JSONResponse]:
        return lambda _request, exc: JSONResponse({"detail": str(exc)}, status_code=code)

    app.add_exception_handler(CheckoutNotFound, handler(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(CheckoutConflict, handler(status.HTTP_409_CONFLICT))
    app.add_exception_handler(TooManyCheckouts, handler(status.HTTP_429_TOO_MANY_REQUESTS))
    app.add_exception_handler(InvalidContact, handler(422))
    app.add_exception_handler(InvalidReceipt, handler(422))
    app.add_exception_handler(ReceiptNotQueued, handler(status.HTTP_507_INSUFFICIENT_STORAGE))
