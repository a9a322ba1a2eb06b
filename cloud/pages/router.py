"""The buyer's pages: `/r/{token}` (a message's link) and `/r/c/{register}/{landing}` (the popup's QR)."""

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from cloud.db.types import utcnow
from cloud.deps import SessionDep
from cloud.ingest.models import ReceiptRow
from cloud.pages import render, service
from cloud.pages.receipt_view import receipt_view
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


def _page(session: Session, receipt: ReceiptRow) -> str:
    tenant, store = service.seller_of(session, receipt)
    return render.receipt_page(receipt_view(receipt_from_wire(receipt.payload), tenant, store))


@router.get("/r/{token}", response_class=HTMLResponse)
def receipt_by_link(token: str, session: SessionDep) -> HTMLResponse:
    receipt = service.receipt_by_link(session, token, utcnow())
    if receipt is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return HTMLResponse(_page(session, receipt))


@router.get("/r/c/{register_id}/{landing}", response_class=HTMLResponse)
def receipt_by_landing(register_id: int, landing: str, session: SessionDep, w: int = 0) -> HTMLResponse:
    now: datetime = utcnow()
    receipt = service.receipt_by_landing(session, register_id, landing, now)
    if receipt is not None:
        return HTMLResponse(_page(session, receipt), headers=NO_STORE)
    if service.landing_expired(session, register_id, landing, now):
        return HTMLResponse(render.not_found_page(EXPIRED), status_code=410, headers=NO_STORE)
    if w >= MAX_WAITS:  # a bad token waits as long as a good one would, so it reveals nothing, then says so
        return HTMLResponse(render.not_found_page(UNKNOWN), status_code=404, headers=NO_STORE)
    next_url = f"/r/c/{register_id}/{landing}?w={max(w, 0) + 1}"
    return HTMLResponse(render.waiting_page(next_url), headers=NO_STORE)
