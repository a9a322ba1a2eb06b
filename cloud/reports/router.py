"""Head office's dashboards (HTML), their exports (CSV, XLSX, PDF) and the read API (JSON, CSV). Thin: the
figures come from cloud.reports.service, the scope from the caller's role (cloud.accounts.scope)."""

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from cloud.accounts.callers import Caller
from cloud.accounts.roles import GRANTS, Permission, Role
from cloud.accounts.scope import resolve
from cloud.accounts.sessions import SignedIn
from cloud.accounts.users import scope_of
from cloud.deps import ReportReader, SessionDep, SignedInUser
from cloud.errors import NotFound, PageForbidden, error_responses
from cloud.reports import exports
from cloud.reports.filters import CHANNELS, SEGMENTS, Filters, parse
from cloud.reports.scope import Viewer, visible_stores
from cloud.reports.service import DASHBOARDS, MODEL_CHOICES, build, entry
from cloud.reports.tables import (
    Column,
    Dashboard,
    Page,
    Table,
    export_label,
    export_value,
    format_value,
    page_of,
)
from cloud.web.office import render_office
from cloud.web.pdf import PDF_MEDIA_TYPE, pdf_bytes
from cloud.web.templating import environment

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/v1/reports", tags=["reports"])
PRINT_CSS = FilePath(__file__).parent / "templates" / "print.css"
PRINT_ROWS = 500  # a PDF shows at most this many rows of a table (the XLSX has them all)
MAX_PER_PAGE = 1000


def _viewer(session: Session, signed_in: SignedIn) -> Viewer:
    user = signed_in.user
    return Viewer(user.tenant_id, resolve(session, user.tenant_id, scope_of(user)))


def _allowed(signed_in: SignedIn, slug: str) -> None:
    if not entry(slug).allowed(GRANTS[Role(signed_in.user.role)]):
        raise PageForbidden("вашей роли этот отчёт недоступен")


def _dashboard(request: Request, session: Session, viewer: Viewer, slug: str) -> tuple[Dashboard, Filters]:
    filters = parse(dict(request.query_params))
    dashboard = build(session, viewer, slug, filters, policy=request.app.state.fleet_policy)
    return dashboard, filters


def _context(
    session: Session, signed_in: SignedIn, viewer: Viewer, dashboard: Dashboard, filters: Filters
) -> dict[str, Any]:
    granted = GRANTS[Role(signed_in.user.role)]
    stores = visible_stores(session, viewer)
    return {
        "dashboard": dashboard,
        "filters": filters,
        "tabs": [(e.slug, e.title) for e in DASHBOARDS if e.allowed(granted)],
        "stores": stores,
        "regions": sorted({s.region for s in stores if s.region}),
        "segments": SEGMENTS,
        "channels": CHANNELS,
        "pages": {t.id: page_of(t, *filters.sort_of(t.id), filters.page_of(t.id)) for t in dashboard.tables},
        "fmt": format_value,
        "can_manage": Permission.FLEET in granted,
        "sort_link": lambda table, column, page: sort_link(dashboard.slug, filters, table, column, page),
        "page_link": lambda table, n: filters.link(f"/reports/{dashboard.slug}", **{f"{table.id}_page": n}),
        "dashboard_models": MODEL_CHOICES,
    }


def sort_link(slug: str, filters: Filters, table: Table, column: Column, page: Page) -> str:
    """The header's link: the other direction if the table is sorted by this column, else numbers from
    the largest and text from A; back to the table's first page."""
    if page.sort == column.key:
        value = column.key if page.desc else f"-{column.key}"
    else:
        value = f"-{column.key}" if column.numeric else column.key
    return filters.link(f"/reports/{slug}", **{f"{table.id}_sort": value, f"{table.id}_page": None})


@router.get("/reports")
def reports_home(request: Request, signed_in: SignedInUser) -> Response:
    granted = GRANTS[Role(signed_in.user.role)]
    slug = next((e.slug for e in DASHBOARDS if e.allowed(granted)), None)
    if slug is None:
        raise PageForbidden("вашей роли отчёты недоступны")
    query = request.url.query
    return RedirectResponse(f"/reports/{slug}" + (f"?{query}" if query else ""), status_code=303)


@router.get("/reports/{slug}", response_class=HTMLResponse)
def dashboard_page(request: Request, slug: str, signed_in: SignedInUser, session: SessionDep) -> HTMLResponse:
    _allowed(signed_in, slug)
    viewer = _viewer(session, signed_in)
    dashboard, filters = _dashboard(request, session, viewer, slug)
    return render_office(
        request,
        signed_in,
        "reports/dashboard.html",
        **_context(session, signed_in, viewer, dashboard, filters),
    )


def _table(dashboard: Dashboard, table_id: str) -> Table:
    table = dashboard.table(table_id)
    if table is None:
        raise NotFound(f"в отчёте нет таблицы {table_id[:40]}")
    return table


def _download(content: bytes | str, media_type: str, name: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/reports/{slug}/tables/{table_id}.csv")
def table_csv(
    request: Request, slug: str, table_id: str, signed_in: SignedInUser, session: SessionDep
) -> Response:
    _allowed(signed_in, slug)
    dashboard, filters = _dashboard(request, session, _viewer(session, signed_in), slug)
    table = _table(dashboard, table_id)
    page = page_of(table, *filters.sort_of(table.id), 1, size=max(1, len(table.rows)))
    text = exports.csv_text(table.columns, page.rows, bom=True)
    return _download(text, exports.CSV_MEDIA_TYPE, exports.file_name(dashboard, filters, f"-{table.id}.csv"))


@router.get("/reports/{slug}/export.xlsx")
def dashboard_xlsx(request: Request, slug: str, signed_in: SignedInUser, session: SessionDep) -> Response:
    _allowed(signed_in, slug)
    dashboard, filters = _dashboard(request, session, _viewer(session, signed_in), slug)
    body = exports.xlsx_bytes(dashboard, filters, scope_of(signed_in.user).describe())
    return _download(body, exports.XLSX_MEDIA_TYPE, exports.file_name(dashboard, filters, ".xlsx"))


@router.get("/reports/{slug}/export.pdf")
def dashboard_pdf(request: Request, slug: str, signed_in: SignedInUser, session: SessionDep) -> Response:
    _allowed(signed_in, slug)
    viewer = _viewer(session, signed_in)
    dashboard, filters = _dashboard(request, session, viewer, slug)
    html = (
        environment()
        .get_template("reports/print.html")
        .render(
            dashboard=dashboard,
            filters=filters,
            scope_label=scope_of(signed_in.user).describe(),
            fmt=format_value,
            rows={t.id: page_of(t, *filters.sort_of(t.id), 1, size=PRINT_ROWS) for t in dashboard.tables},
        )
    )
    body = pdf_bytes(html, PRINT_CSS.read_text(encoding="utf-8"))
    return _download(body, PDF_MEDIA_TYPE, exports.file_name(dashboard, filters, ".pdf"))


# The read API: for the tenant's own BI. An API key reads the whole tenant; a signed-in user their scope.


class DashboardRef(BaseModel):
    slug: str
    title: str


class DashboardList(BaseModel):
    dashboards: list[DashboardRef]


class FigureOut(BaseModel):
    id: str
    label: str
    value: float | int | str | None
    kind: str = Field(
        description="int | share (0..1) | kopecks (exported as rubles) | seconds | number | text"
    )


class TableRef(BaseModel):
    id: str
    title: str
    rows: int
    missing: str | None = Field(description="Why the table has no data yet ('нет данных'), if so")


class DashboardOut(BaseModel):
    dashboard: str
    title: str
    filters: dict[str, str]
    figures: list[FigureOut]
    tables: list[TableRef]
    notes: list[str]


class ColumnOut(BaseModel):
    key: str
    label: str
    kind: str
    unit: str = Field(description="The heading with the unit the value is in (₽, доля, с)")


class TablePage(BaseModel):
    dashboard: str
    table: str
    title: str
    filters: dict[str, str]
    columns: list[ColumnOut]
    items: list[dict[str, Any]]
    page: int
    per_page: int
    pages: int
    total: int
    missing: str | None


Since = Annotated[str | None, Query(max_length=10, description="First day, YYYY-MM-DD (default: 6 days ago)")]
Until = Annotated[str | None, Query(max_length=10, description="Last day, YYYY-MM-DD (default: today)")]
StoreParam = Annotated[str | None, Query(max_length=18, description="A store id (within the caller's scope)")]
Region = Annotated[str | None, Query(max_length=100)]
Segment = Annotated[str | None, Query(max_length=10, description="card | contact | anonymous")]
ChannelParam = Annotated[str | None, Query(max_length=10, description="email | push | viber | sms")]
ModelParam = Annotated[str | None, Query(max_length=40, description="ROPO: the attribution model")]


def _api_viewer(caller: Caller, slug: str) -> Viewer:
    if not entry(slug).allowed(caller.permissions):
        caller.require(Permission.REPORTS)
    return Viewer(caller.tenant_id, caller.store_ids)


@api.get("", summary="The dashboards this API reads", responses=error_responses(403))
def list_dashboards(caller: ReportReader) -> DashboardList:
    return DashboardList(
        dashboards=[
            DashboardRef(slug=e.slug, title=e.title) for e in DASHBOARDS if e.allowed(caller.permissions)
        ]
    )


@api.get(
    "/{slug}",
    summary="A dashboard's figures and tables (the filters as on the page)",
    responses=error_responses(403, 404),
)
def dashboard_json(
    request: Request,
    slug: Annotated[str, Path(max_length=20)],
    caller: ReportReader,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    store: StoreParam = None,
    region: Region = None,
    segment: Segment = None,
    channel: ChannelParam = None,
    model: ModelParam = None,
) -> DashboardOut:
    viewer = _api_viewer(caller, slug)
    dashboard, filters = _dashboard(request, session, viewer, slug)
    return DashboardOut(
        dashboard=dashboard.slug,
        title=dashboard.title,
        filters=filters.values(),
        figures=[
            FigureOut(id=f.id, label=f.label, value=export_value(f.value, f.kind), kind=f.kind.value)
            for f in dashboard.figures
        ],
        tables=[
            TableRef(id=t.id, title=t.title, rows=len(t.rows), missing=t.missing) for t in dashboard.tables
        ],
        notes=dashboard.notes,
    )


@api.get(
    "/{slug}/{table_id}",
    summary="One table of a dashboard, paginated, as JSON or CSV",
    response_model=TablePage,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(403, 404),
    },
)
def table_json(
    request: Request,
    slug: Annotated[str, Path(max_length=20)],
    table_id: Annotated[str, Path(max_length=40)],
    caller: ReportReader,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 100,
    sort: Annotated[
        str | None, Query(max_length=40, description="a column key; '-' first: descending")
    ] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    since: Since = None,
    until: Until = None,
    store: StoreParam = None,
    region: Region = None,
    segment: Segment = None,
    channel: ChannelParam = None,
    model: ModelParam = None,
) -> Response:
    viewer = _api_viewer(caller, slug)
    dashboard, filters = _dashboard(request, session, viewer, slug)
    table = _table(dashboard, table_id)
    key = sort.lstrip("-") if sort else None
    found = page_of(table, key, bool(sort and sort.startswith("-")), page, size=per_page)
    if format == "csv":
        return Response(
            exports.csv_text(table.columns, found.rows),
            media_type=exports.CSV_MEDIA_TYPE,
            headers={
                "X-Total-Count": str(found.total),
                "X-Page": str(found.page),
                "X-Pages": str(found.pages),
            },
        )
    return JSONResponse(
        {
            "dashboard": dashboard.slug,
            "table": table.id,
            "title": table.title,
            "filters": filters.values(),
            "columns": [
                {"key": c.key, "label": c.label, "kind": c.kind.value, "unit": export_label(c)}
                for c in table.columns
            ],
            "items": exports.export_rows(table, found.rows),
            "page": found.page,
            "per_page": per_page,
            "pages": found.pages,
            "total": found.total,
            "missing": table.missing,
        }
    )
