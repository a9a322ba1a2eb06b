"""Store IT's actions on the fleet (an enrollment code for a store, rotate or revoke a register's token).

The fleet page itself moved to head office's dashboards (cloud/reports, `/reports/fleet`), in Russian with
business figures beside the technical ones; `/fleet` redirects there and these forms post from it."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from cloud.accounts import register_credentials
from cloud.accounts.models import Register, Store
from cloud.accounts.roles import Permission
from cloud.accounts.scope import resolve
from cloud.accounts.sessions import SignedIn
from cloud.accounts.users import scope_of
from cloud.deps import SessionDep, page_user
from cloud.errors import NotFound
from cloud.fleet import enrollment
from cloud.settings import DEFAULT_ENROLL_TTL_HOURS
from cloud.web.forms import check_csrf, read_form
from cloud.web.office import render_office

router = APIRouter(include_in_schema=False)
FleetUser = Annotated[SignedIn, Depends(page_user(Permission.FLEET))]


def _visible(session: Session, signed_in: SignedIn) -> frozenset[int] | None:
    return resolve(session, signed_in.user.tenant_id, scope_of(signed_in.user))


@router.get("/fleet")
def fleet_page(request: Request) -> Response:
    """The old address: the fleet dashboard now lives in the reports (bookmarks and alerts keep working)."""
    query = request.url.query
    return RedirectResponse("/reports/fleet" + (f"?{query}" if query else ""), status_code=301)


def _own_store(session: Session, signed_in: SignedIn, store_id: int) -> Store:
    store = session.get(Store, store_id)
    visible = _visible(session, signed_in)
    if (
        store is None
        or store.tenant_id != signed_in.user.tenant_id
        or (visible is not None and store_id not in visible)
    ):
        raise NotFound(f"магазин {store_id} не найден")
    return store


def _own_register(session: Session, signed_in: SignedIn, register_id: int) -> Register:
    register = session.get(Register, register_id)
    if register is None or register.tenant_id != signed_in.user.tenant_id:
        raise NotFound(f"касса {register_id} не найдена")
    _own_store(session, signed_in, register.store_id)
    return register


def _code_page(
    request: Request, signed_in: SignedIn, issued: enrollment.IssuedCode, what: str
) -> HTMLResponse:
    return render_office(
        request,
        signed_in,
        "office/issued.html",
        title="Код подключения",
        explanation=what,
        secret=issued.code,
        note=f"Одноразовый, действует до {issued.expires_at:%d.%m.%Y %H:%M} UTC. На кассе: "
        f"echeck-agent enroll --cloud-url {request.app.state.settings.public_url} --code {issued.code}",
        back="/reports/fleet",
    )


@router.post("/fleet/stores/code", response_class=HTMLResponse)
async def chosen_store_code(request: Request, signed_in: FleetUser, session: SessionDep) -> Response:
    """The dashboard's form: the store is chosen in a list."""
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    store_id = form.get("store_id", "")
    if not store_id.isdigit() or len(store_id) > 18:
        raise NotFound("магазин не найден")
    return _issue_store_code(request, signed_in, session, int(store_id))


@router.post("/fleet/stores/{store_id}/code", response_class=HTMLResponse)
async def store_code(request: Request, store_id: int, signed_in: FleetUser, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    return _issue_store_code(request, signed_in, session, store_id)


def _issue_store_code(request: Request, signed_in: SignedIn, session: Session, store_id: int) -> Response:
    store = _own_store(session, signed_in, store_id)
    issued = enrollment.issue_enrollment_code(
        session, store_id, timedelta(hours=DEFAULT_ENROLL_TTL_HOURS), actor=signed_in.user.email
    )
    return _code_page(request, signed_in, issued, f"Новая касса магазина «{store.name}».")


@router.post("/fleet/registers/{register_id}/rotate", response_class=HTMLResponse)
async def rotate(request: Request, register_id: int, signed_in: FleetUser, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    _own_register(session, signed_in, register_id)
    issued = enrollment.issue_rotation_code(
        session, signed_in.user.tenant_id, register_id, actor=signed_in.user.email
    )
    return _code_page(
        request,
        signed_in,
        issued,
        f"Подключите кассу {register_id} заново этим кодом: она сохранит свой номер и историю, "
        "а её прежний токен перестанет действовать.",
    )


@router.post("/fleet/registers/{register_id}/revoke")
async def revoke(request: Request, register_id: int, signed_in: FleetUser, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    _own_register(session, signed_in, register_id)
    register_credentials.revoke_register(
        session, signed_in.user.tenant_id, register_id, actor=signed_in.user.email
    )
    return RedirectResponse("/reports/fleet#table-registers", status_code=303)
