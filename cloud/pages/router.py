"""The buyer's pages: `/r/{token}` (a message's link) and `/r/c/{register}/{landing}` (the popup's QR), the
page's forms and script events, and the click redirect."""

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.routing import Match, Route
from starlette.types import Scope

from cloud.db.types import utcnow
from cloud.deps import (
    ClickIdsDep,
    IdentityKeysDep,
    PageServices,
    PageServicesDep,
    ReportReader,
    SessionDep,
    ViewTokensDep,
    public_url,
)
from cloud.errors import CloudError, Forbidden, InvalidInput
from cloud.events import MessageBus, get_bus
from cloud.pages import actions, exports, kept, receipt_pdf, render, service, tracking, versions
from cloud.pages.blocks import StylesSettings
from cloud.pages.blocks_render import remaining, stylesheet
from cloud.pages.page import check_form_token, click_links, receipt_page_html
from cloud.pages.receipt_view import ReceiptView
from cloud.tracking.batch_store import Batch
from cloud.tracking.click_ids import with_click_id
from cloud.tracking.events import TrackedEvent
from cloud.tracking.writer import BatchWriter
from cloud.web.forms import read_form
from cloud.web.pdf import PDF_MEDIA_TYPE

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
# WeasyPrint takes hundreds of milliseconds of CPU per receipt: at most this many render at once per process,
# in threads of their own, so downloads queue among themselves and never take the threads the pages use.
PDF_RENDERS_AT_ONCE = 2
# Beyond this many downloads waiting for a render (a flood, or a scanner following every link), answer 503
# at once: a queue that long would take ten seconds or more to drain, and the pages share these two cores.
PDF_QUEUE = 32


Page = kept.Kept | Callable[[dict[str, str]], str]  # kept or just rendered with marks, or a render
Served = tuple[HTMLResponse, TrackedEvent | None]  # the answer, and the fetch the writer still has to store


def _page(
    request: Request,
    session: Session,
    app: PageServices,
    found: service.Found,
    via: str,
    headers: dict[str, str],
    keep: Callable[[dict[str, Any]], None] | None = None,
) -> Served:
    """The receipt's page from the tenant's template, rendered with marks for its per-fetch values and
    handed to `keep` when found by the message link (`found.keeping`), then answered as `_answer` does."""
    now = utcnow()
    receipt = found.receipt
    assert receipt.id is not None
    published = versions.prepared(session, found.version_id, found.version_created_at)

    def render(slots: kept.Slots | None, track: dict[str, str] | None = None) -> str:
        return receipt_page_html(
            session,
            app.keys,
            receipt,
            found.tenant,
            found.store,
            page_path=request.url.path if slots is None else slots.page_path,
            now=now,
            click_ids=app.click_ids,
            tracking=track,
            published=published,
            slots=slots,
        )

    slots = kept.Slots(now, tracking.EVENTS_PATH)
    html = render(slots)
    page: Page
    if kept.keepable(html, slots):
        page = kept.Kept(html, slots.as_json())
        if keep is not None and found.keeping is not None:
            keep(kept.row_of(receipt, found.keeping.stamp, page, slots.valid_until, now))
    else:  # a tenant's text with one of the marks' characters: rendered again with this fetch's values
        page = lambda track: render(None, track)  # noqa: E731
    return _answer(request, session, app, page, (receipt.id, receipt.tenant_id), via, headers, now)


def _answer(
    request: Request,
    session: Session,
    app: PageServices,
    page: Page,
    ids: tuple[int, int],
    via: str,
    headers: dict[str, str],
    now: datetime,
) -> Served:
    """A page (kept, or just rendered with marks; or a function rendering it with this fetch's values) for
    this fetch of receipt `ids` (receipt, tenant), as `_filled` makes it, its fetch recorded in the page's
    transaction when there is no collector's writer, else returned for `_stored` to hand over."""
    fetch, answer = _filled(request, app, ids, via, now)
    if app.writer is None:
        tracking.record_fetch(session, fetch)
    session.commit()
    return answer(page, headers), None if app.writer is None else fetch


def _filled(
    request: Request, app: PageServices, ids: tuple[int, int], via: str, now: datetime
) -> tuple[TrackedEvent, Callable[[Page, dict[str, str]], HTMLResponse]]:
    """This fetch of receipt `ids` (receipt, tenant): its event, and the answer of a page with its marks
    filled with this fetch's values and the browser id cookie set when the browser had none."""
    receipt_id, tenant_id = ids
    visitor, new_browser = tracking.visitor_of(request)
    page_url = public_url(request) + request.url.path
    fetch, track = tracking.page_fetched(
        app.tokens,
        app.click_ids,
        receipt_id,
        tenant_id,
        visitor,
        now,
        via,
        request.headers.get("referer"),
        page_url,
    )

    def answer(page: Page, headers: dict[str, str]) -> HTMLResponse:
        if isinstance(page, kept.Kept):
            links = click_links(app.click_ids, receipt_id, now)
            fill = kept.Fill(
                track["view_token"],
                track["honeypot_url"],
                links,
                lambda until: remaining(until, now),
                request.url.path,
            )
            html = kept.splice(page.html, page.slots, fill)
        else:
            html = page(track)
        response = HTMLResponse(html, headers={**headers, **PAGE_HEADERS})
        if new_browser:
            tracking.set_browser_cookie(request, response, visitor)
        return response

    return fetch, answer


async def _stored(writer: BatchWriter | None, served: Served) -> HTMLResponse:
    """The page once its fetch is stored. On PostgreSQL the fetch goes through the collector's writer:
    fetches of pages served at the same moment (and browsers' batches) share one statement, where each page
    paid an insert round trip of its own; the page is still answered only after its fetch is committed."""
    response, fetch = served
    if fetch is not None and writer is not None:
        await writer.write(Batch([fetch], [False]))
    return response


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
async def receipt_by_link(token: str, request: Request, app: PageServicesDep) -> HTMLResponse:
    """The message link's page: the page kept for it when still current (cloud.pages.kept), else rendered
    and kept, by the kept-page writer after the answer (PostgreSQL) or in the page's transaction."""
    kept_writer, rendered = app.kept_writer, list[dict[str, Any]]()

    def served() -> Served:
        with app.session() as session:
            found = service.page_by_link(session, token)
            if found is None:
                return HTMLResponse(render.not_found_page(), status_code=404), None
            if found.keeping is not None and found.keeping.page is not None:
                receipt = found.receipt
                assert receipt.id is not None
                ids = receipt.id, receipt.tenant_id
                return _answer(request, session, app, found.keeping.page, ids, "link", {}, utcnow())

            def keep(row: dict[str, Any]) -> None:
                if kept_writer is None:
                    kept.upsert(session, [row])  # in the page's transaction (SQLite)
                else:
                    rendered.append(row)

            return _page(request, session, app, found, "link", {}, keep)

    response = await _stored(app.writer, await run_in_threadpool(served))
    if kept_writer is not None:
        for row in rendered:
            kept_writer.put(row)
    return response


async def kept_by_link(request: Request) -> Response:
    """`/r/{token}` ahead of every other route (`KeptLinkRoute`): a page kept and current is read on the
    event loop (cloud.pages.kept_reader) and answered without a thread, its fetch through the collector's
    writer; anything else goes the usual way (`receipt_by_link`)."""
    app: PageServices = request.app.state.page_services
    token: str = request.path_params["token"]
    if app.kept_reader is not None and app.writer is not None:
        now = utcnow()
        hit = await app.kept_reader.kept(token, now)
        if hit is not None:
            fetch, answer = _filled(request, app, (hit.receipt_id, hit.tenant_id), "link", now)
            return await _stored(app.writer, (answer(hit.page, {}), fetch))
    return await receipt_by_link(token, request, app)


class KeptLinkRoute(Route):
    """GET `/r/{token}` for a token shaped like a message link's, for the app's first route: the receipt
    page is the cloud's busiest, and a request walked the routers before it, and FastAPI's dependency
    resolution, for more CPU than a kept page's own work (docs/performance.md, "Seventh pass"). Any other
    path, or `/r/style.css`, passes on to the routers."""

    def __init__(self) -> None:
        super().__init__("/r/{token}", kept_by_link, methods=["GET"], include_in_schema=False)
        self.methods = {"GET"}  # not HEAD, as the page's route: a HEAD is 405, never a fetch

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not service.link_shaped(child["path_params"]["token"]):
            return Match.NONE, {}
        return match, child


@router.get("/r/{token}/" + receipt_pdf.PDF_PATH)
async def receipt_pdf_by_link(token: str, request: Request, session: SessionDep) -> Response:
    """The receipt as a PDF (the legal part of the page), by the same token as the page: unknown is 404."""
    view = await run_in_threadpool(_pdf_view, session, service.page_by_link, token)
    if view is None:
        return HTMLResponse(render.not_found_page(), status_code=404)
    return await _pdf(request, view)


@router.get("/r/c/{register_id}/{landing}/" + receipt_pdf.PDF_PATH)
async def receipt_pdf_by_landing(
    register_id: int, landing: str, request: Request, session: SessionDep
) -> Response:
    """The PDF of the popup's QR landing: within the landing's window, else 410 (used) or 404 (never seen).
    No waiting page: the link is on the receipt's page, so the receipt is there."""
    now = utcnow()
    view = await run_in_threadpool(_pdf_view, session, service.page_by_landing, register_id, landing, now)
    if view is not None:
        return await _pdf(request, view)
    if await run_in_threadpool(service.landing_expired, session, register_id, landing, now):
        return HTMLResponse(render.not_found_page(EXPIRED), status_code=410, headers=NO_STORE)
    return HTMLResponse(render.not_found_page(UNKNOWN), status_code=404, headers=NO_STORE)


def _pdf_view(session: Session, lookup: Any, *args: Any) -> ReceiptView | None:
    """The page's own lookup (the same token check), then its session's connection back to the pool: the
    render that follows needs no database. Nothing is written: a download is neither a fetch nor an open
    (docs/pages-events.md), and it issues no promo code and draws no holdout."""
    found: service.Found | None = lookup(session, *args)
    view = None if found is None else receipt_pdf.view_of(found)
    session.close()
    return view


def _pdf_renders(request: Request) -> anyio.CapacityLimiter:
    """The app's limiter of PDF renders, made on its event loop at the first download."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "pdf_renders", None)
    if limiter is None:
        limiter = request.app.state.pdf_renders = anyio.CapacityLimiter(PDF_RENDERS_AT_ONCE)
    return limiter


async def _pdf(request: Request, view: ReceiptView) -> Response:
    limiter = _pdf_renders(request)
    if limiter.statistics().tasks_waiting >= PDF_QUEUE:
        busy = "Сейчас слишком много загрузок. Попробуйте скачать чек через минуту."
        return HTMLResponse(
            render.form_error_page(busy, request.url.path.removesuffix("/" + receipt_pdf.PDF_PATH)),
            status_code=503,
            headers={**NO_STORE, "Retry-After": "30"},
        )
    body = await anyio.to_thread.run_sync(receipt_pdf.receipt_pdf, view, limiter=limiter)
    headers = {
        "Content-Disposition": receipt_pdf.content_disposition(view),
        "Cache-Control": "private, no-store",  # one buyer's receipt: no shared cache keeps it
        "X-Robots-Tag": "noindex",
    }
    return Response(body, media_type=PDF_MEDIA_TYPE, headers=headers)


@router.get("/r/c/{register_id}/{landing}", response_class=HTMLResponse)
async def receipt_by_landing(
    register_id: int, landing: str, request: Request, app: PageServicesDep, w: int = 0
) -> HTMLResponse:
    def served() -> Served:
        now: datetime = utcnow()
        with app.session() as session:
            found = service.page_by_landing(session, register_id, landing, now)
            if found is not None:
                return _page(request, session, app, found, "qr", NO_STORE)
            if service.landing_expired(session, register_id, landing, now):
                return HTMLResponse(render.not_found_page(EXPIRED), status_code=410, headers=NO_STORE), None
        # A bad token waits as long as a good one would, so it reveals nothing, then says so.
        if w >= MAX_WAITS:
            return HTMLResponse(render.not_found_page(UNKNOWN), status_code=404, headers=NO_STORE), None
        next_url = f"/r/c/{register_id}/{landing}?w={max(w, 0) + 1}"
        return HTMLResponse(render.waiting_page(next_url), headers=NO_STORE), None

    return await _stored(app.writer, await run_in_threadpool(served))


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
