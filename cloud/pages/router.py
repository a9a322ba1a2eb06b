"""The buyer's pages: `/r/{token}` (a message's link) and `/r/c/{register}/{landing}` (the popup's QR)."""

import re
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session

from cloud.db.types import utcnow
from cloud.deps import ClickIdsDep, IdentityKeysDep, ReportReader, SessionDep
from cloud.errors import CloudError, Forbidden, InvalidInput
from cloud.ingest.models import ReceiptRow
from cloud.pages import actions, exports, render, service
from cloud.pages.blocks import StylesSettings
from cloud.pages.blocks_render import stylesheet
from cloud.pages.page import check_form_token, receipt_page_html
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds
from cloud.web.forms import read_form

router = APIRouter(tags=["pages"], include_in_schema=False)
api = APIRouter(tags=["pages"])

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


# The receipt page shows the tenant's images (logo, banners) from their own servers over HTTPS; everything
# else stays as strict as the cloud's default policy (no inline script or style, forms post here only).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
}
_BACK = re.compile(r"^/r/[A-Za-z0-9_/-]{1,80}$")


def _page(
    session: Session, keys: IdentityKeys, click_ids: ClickIds, receipt: ReceiptRow, page_path: str
) -> str:
    tenant, store = service.seller_of(session, receipt)
    return receipt_page_html(
        session, keys, receipt, tenant, store, page_path=page_path, now=utcnow(), click_ids=click_ids
    )


@router.get("/r/style.css")
def page_style(a: str = "", b: str = "", t: str = "", f: str = "system") -> Response:
    """A styles block's stylesheet: its values are the query (validated), so it is the same for ever."""
    try:
        settings = StylesSettings(accent=f"#{a}", background=f"#{b}", text=f"#{t}", font=f)  # type: ignore[arg-type]
    except ValidationError:
        raise InvalidInput("unknown style values") from None
    return Response(
        stylesheet(settings),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.post("/r/act")
async def page_action(request: Request, session: SessionDep, keys: IdentityKeysDep) -> Response:
    """A form of the page: loyalty sign-up, a profile answer, a survey. Back to the page (303)."""
    form = await read_form(request)
    back = form.get("back", "")
    back = back if _BACK.match(back) else ""
    receipt_id = int(form["r"]) if form.get("r", "").isdigit() and len(form["r"]) < 19 else 0
    block_id = form.get("b", "")[:32]
    if not receipt_id or not check_form_token(keys, receipt_id, block_id, form.get("t", "")):
        raise Forbidden("форма устарела: откройте чек по ссылке ещё раз")
    browser_id = request.cookies.get("ec_bid")
    sent = actions.Sent(
        receipt_id,
        block_id,
        form.get("action", ""),
        form.get("value", ""),
        form.get("comment", ""),
        browser_id=browser_id[:200] if browser_id else None,
    )
    try:
        actions.act(session, keys, sent, utcnow())
    except CloudError as exc:
        if not back or exc.status_code >= 500:
            raise
        return HTMLResponse(
            render.form_error_page(exc.detail, back), status_code=exc.status_code, headers=NO_STORE
        )
    if not back:
        return HTMLResponse(render.form_error_page("Спасибо! Ответ сохранён.", ""), headers=NO_STORE)
    return RedirectResponse(f"{back}#b-{block_id}", status_code=303)


@router.get("/r/{token}", response_class=HTMLResponse)
def receipt_by_link(
    token: str, session: SessionDep, keys: IdentityKeysDep, click_ids: ClickIdsDep
) -> HTMLResponse:
    receipt = service.receipt_by_link(session, token, utcnow())
    if receipt is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return HTMLResponse(_page(session, keys, click_ids, receipt, f"/r/{token}"), headers=PAGE_HEADERS)


@router.get("/r/c/{register_id}/{landing}", response_class=HTMLResponse)
def receipt_by_landing(
    register_id: int,
    landing: str,
    session: SessionDep,
    keys: IdentityKeysDep,
    click_ids: ClickIdsDep,
    w: int = 0,
) -> HTMLResponse:
    now: datetime = utcnow()
    receipt = service.receipt_by_landing(session, register_id, landing, now)
    if receipt is not None:
        page = _page(session, keys, click_ids, receipt, f"/r/c/{register_id}/{landing}")
        return HTMLResponse(page, headers={**NO_STORE, **PAGE_HEADERS})
    if service.landing_expired(session, register_id, landing, now):
        return HTMLResponse(render.not_found_page(EXPIRED), status_code=410, headers=NO_STORE)
    if w >= MAX_WAITS:  # a bad token waits as long as a good one would, so it reveals nothing, then says so
        return HTMLResponse(render.not_found_page(UNKNOWN), status_code=404, headers=NO_STORE)
    next_url = f"/r/c/{register_id}/{landing}?w={max(w, 0) + 1}"
    return HTMLResponse(render.waiting_page(next_url), headers=NO_STORE)


@api.get(
    "/v1/pages/answers.csv",
    response_class=StreamingResponse,
    summary="Buyers' answers from e-receipt pages (CSV, for the CRM)",
    responses={200: {"content": {"text/csv": {}}}},
)
def answers_export(
    caller: ReportReader, session: SessionDep, since: datetime | None = None
) -> StreamingResponse:
    """Loyalty sign-ups, profile answers (e-mail, birthday, pet) and survey ratings, oldest first; `since`
    (ISO time) for the rows after the last export. `contact` is filled only where the buyer consented."""
    return StreamingResponse(
        exports.answers_csv(session, caller.tenant_id, since, caller.store_ids),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="answers.csv"'},
    )
