"""The buyer's pages: `/r/{token}` (a message's link) and `/r/c/{register}/{landing}` (the popup's QR)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from cloud.db.types import utcnow
from cloud.deps import ClickIdsDep, SessionDep, ViewTokensDep, public_url
from cloud.errors import InvalidInput
from cloud.events import MessageBus, get_bus
from cloud.ingest.models import ReceiptRow
from cloud.pages import render, service, tracking
from cloud.pages.receipt_view import receipt_view
from cloud.tracking.click_ids import ClickIds, with_click_id
from cloud.tracking.page_events import ViewTokens
from sync.protocol import receipt_from_wire

router = APIRouter(tags=["pages"], include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
# The waiting page reloads every 5 s with `?w=<attempt>`; after this many the token is taken as unknown:
# a minute is far longer than a register needs to sync a receipt it has just closed.
MAX_WAITS = 12
UNKNOWN = (
    "Чек по этому QR-коду не найден. Проверьте, что сканируете код с экрана кассы, "
    "или попросите чек у кассира."
)
EXPIRED = (
    "Срок действия этого QR-кода истёк: он действует двое суток после покупки. "
    "Чек можно попросить у продавца."
)


def _page(
    request: Request,
    session: Session,
    receipt: ReceiptRow,
    tokens: ViewTokens,
    click_ids: ClickIds,
    via: str,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The receipt's page, its fetch recorded in the same transaction, the browser id cookie set."""
    now = utcnow()
    tenant, store = service.seller_of(session, receipt)
    visitor, new_browser = tracking.visitor_of(request)
    page_url = public_url(request) + request.url.path
    track = tracking.page_fetched(
        session, tokens, click_ids, receipt, visitor, now, via, request.headers.get("referer"), page_url
    )
    html = render.receipt_page(receipt_view(receipt_from_wire(receipt.payload), tenant, store), track)
    session.commit()
    response = HTMLResponse(html, headers=headers)
    if new_browser:
        tracking.set_browser_cookie(request, response, visitor)
    return response


@router.get("/r/{token}", response_class=HTMLResponse)
def receipt_by_link(
    token: str, request: Request, session: SessionDep, tokens: ViewTokensDep, click_ids: ClickIdsDep
) -> HTMLResponse:
    receipt = service.receipt_by_link(session, token, utcnow())
    if receipt is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return _page(request, session, receipt, tokens, click_ids, "link")


@router.get("/r/c/{register_id}/{landing}", response_class=HTMLResponse)
def receipt_by_landing(
    register_id: int,
    landing: str,
    request: Request,
    session: SessionDep,
    tokens: ViewTokensDep,
    click_ids: ClickIdsDep,
    w: int = 0,
) -> HTMLResponse:
    now: datetime = utcnow()
    receipt = service.receipt_by_landing(session, register_id, landing, now)
    if receipt is not None:
        return _page(request, session, receipt, tokens, click_ids, "qr", headers=NO_STORE)
    if service.landing_expired(session, register_id, landing, now):
        return HTMLResponse(render.not_found_page(EXPIRED), status_code=410, headers=NO_STORE)
    if w >= MAX_WAITS:  # a bad token waits as long as a good one would, so it reveals nothing, then says so
        return HTMLResponse(render.not_found_page(UNKNOWN), status_code=404, headers=NO_STORE)
    next_url = f"/r/c/{register_id}/{landing}?w={max(w, 0) + 1}"
    return HTMLResponse(render.waiting_page(next_url), headers=NO_STORE)


@router.post(tracking.EVENTS_PATH, status_code=204)
def page_events(
    request: Request,
    session: SessionDep,
    tokens: ViewTokensDep,
    bus: Annotated[MessageBus, Depends(get_bus)],
    t: Annotated[str, Body(max_length=200)],
    events: Annotated[list[dict[str, Any]], Body(max_length=50)],
) -> Response:
    """The page's script: a person's view (`receipt_open`) and blocks scrolled into view (`block_view`),
    with the page view's signed token. Always 204 for a well-formed request; counting is the server's."""
    visitor, _new = tracking.visitor_of(request, issue=False)  # no cookie: the token's browser id
    try:
        tracking.page_events(session, bus, tokens, t, events, visitor, utcnow())
    except tracking.BadPageEvents as exc:
        raise InvalidInput(str(exc)) from exc
    return Response(status_code=204)


@router.get("/c/{click_id}")
def click(
    click_id: str,
    request: Request,
    session: SessionDep,
    click_ids: ClickIdsDep,
    bus: Annotated[MessageBus, Depends(get_bus)],
    to: Annotated[str, Query(max_length=2000)] = "",
    s: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """An outbound link of an e-receipt page: record the click, then on to the target with `ec_click`.
    A link this cloud did not sign is 404: never an open redirect."""
    visitor, _new = tracking.visitor_of(request, issue=False)  # no cookie: no browser id to credit
    found = tracking.clicked(session, bus, click_ids, click_id, to, s, visitor, utcnow())
    if found is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return RedirectResponse(
        with_click_id(to, click_id), status_code=303, headers={"Cache-Control": "no-store"}
    )
