"""The buyer's pages: `/r/{token}` (a message's link) and `/r/c/{register}/{landing}` (the popup's QR)."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from cloud.db.types import utcnow
from cloud.deps import SessionDep
from cloud.pages import render, service

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/r/{token}", response_class=HTMLResponse)
def receipt_by_link(token: str, session: SessionDep) -> HTMLResponse:
    receipt = service.receipt_by_link(session, token, utcnow())
    if receipt is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return HTMLResponse(render.receipt_page(receipt))


@router.get("/r/c/{register_id}/{landing}", response_class=HTMLResponse)
def receipt_by_landing(register_id: int, landing: str, session: SessionDep) -> HTMLResponse:
    receipt = service.receipt_by_landing(session, register_id, landing, utcnow())
    if receipt is None:  # not synced yet (or never will be: a bad token also just waits, revealing nothing)
        return HTMLResponse(render.waiting_page(), headers={"Cache-Control": "no-store"})
    return HTMLResponse(render.receipt_page(receipt), headers={"Cache-Control": "no-store"})
