"""The localhost checkout API: a thin FastAPI router over a `CheckoutPort`.

POS software calls it on 127.0.0.1. Errors always carry a sentence in `detail` a POS developer
can show or log: 404 unknown checkout, 409 out-of-order call, 422 bad input, 507 receipt not queued.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, status
from fastapi.responses import JSONResponse

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
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "The body is not UTF-8 JSON", "content": _PROBLEM},
    404: {"description": "No such checkout", "content": _PROBLEM},
    409: {"description": "The call does not fit the checkout's state", "content": _PROBLEM},
    422: {
        "description": "A field is invalid (a list) or a value is refused (a sentence)",
        "content": _PROBLEM,
    },
}


def build_router(get_port: Callable[[], CheckoutPort]) -> APIRouter:
    PortDep = Annotated[CheckoutPort, Depends(get_port)]  # noqa: N806 - a type alias, named as one
    router = APIRouter(prefix=PREFIX, tags=["checkout"], responses=_ERRORS)

    @router.post("/checkouts", status_code=status.HTTP_201_CREATED, summary="Open a checkout")
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
    app.add_exception_handler(InvalidContact, handler(422))
    app.add_exception_handler(InvalidReceipt, handler(422))
    app.add_exception_handler(ReceiptNotQueued, handler(status.HTTP_507_INSUFFICIENT_STORAGE))
