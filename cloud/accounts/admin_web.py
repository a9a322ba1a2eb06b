"""Head office's admin pages: users (invite, end sessions, disable), API keys, the audit log."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.accounts import api_keys, audit, tenants, users
from cloud.accounts.roles import Permission, Role
from cloud.accounts.scope import StoreScope
from cloud.accounts.sessions import SignedIn
from cloud.deps import SessionDep, page_user, public_url
from cloud.errors import CloudError, InvalidInput
from cloud.web.forms import check_csrf, form_list, read_form
from cloud.web.office import render_office

router = APIRouter(include_in_schema=False)
UserAdmin = Annotated[SignedIn, Depends(page_user(Permission.USERS))]
KeyAdmin = Annotated[SignedIn, Depends(page_user(Permission.SETTINGS))]
Auditor = Annotated[SignedIn, Depends(page_user(Permission.AUDIT))]


def _users_page(
    request: Request,
    signed_in: SignedIn,
    session: SessionDep,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tenant_id = signed_in.user.tenant_id
    people = users.list_users(session, tenant_id)
    invitations = users.pending_invitations(session, tenant_id)
    # Only an owner makes owners; an admin invites admins and below.
    mine = Role(signed_in.user.role)
    order = (Role.ANALYST, Role.STORE_IT, Role.ADMIN, Role.OWNER)
    invitable = [(r.value, r.label) for r in order if r is not Role.OWNER or mine is Role.OWNER]
    return render_office(
        request,
        signed_in,
        "office/users.html",
        status_code=status_code,
        users=people,
        scopes={u.id: users.scope_of(u).describe() for u in people},
        invitations=invitations,
        invitation_scopes={i.id: users.scope_of(i).describe() for i in invitations},
        role_labels={r.value: r.label for r in Role},
        invitable_roles=invitable,
        regions=tenants.regions_of(session, tenant_id),
        notice=notice,
        error=error,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, signed_in: UserAdmin, session: SessionDep) -> HTMLResponse:
    return _users_page(request, signed_in, session)


@router.post("/admin/users/invite", response_class=HTMLResponse)
async def invite(request: Request, signed_in: UserAdmin, session: SessionDep) -> Response:
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    me = signed_in.user
    try:
        role = Role(form.get("role", ""))
        if role is Role.OWNER and Role(me.role) is not Role.OWNER:
            raise InvalidInput("владельца может пригласить только владелец")
        stores = [int(s) for s in form_list(form.get("stores", "")) if s.isdigit()]
        scope = StoreScope.of(stores, form.get("regions", "").split(","))
        issued = users.invite(
            session, me.tenant_id, form.get("email", ""), role, scope, actor=me.email, invited_by=me.id
        )
    except ValueError:
        return _users_page(request, signed_in, session, error="неизвестная роль", status_code=422)
    except CloudError as exc:
        return _users_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return render_office(
        request,
        signed_in,
        "office/issued.html",
        title="Приглашение создано",
        explanation=f"Отправьте эту ссылку {issued.invitation.email}: по ней задают пароль и входят.",
        secret=issued.link(public_url(request)),
        note=f"Ссылка действует до {issued.invitation.expires_at:%d.%m.%Y}.",
        back="/admin/users",
    )


@router.post("/admin/users/{user_id}/sessions/revoke", response_class=HTMLResponse)
async def revoke_sessions(
    request: Request, user_id: int, signed_in: UserAdmin, session: SessionDep
) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    count = users.revoke_sessions(session, signed_in.user.tenant_id, user_id, actor=signed_in.user.email)
    if user_id == signed_in.user.id:
        return RedirectResponse("/login", status_code=303)
    return _users_page(request, signed_in, session, notice=f"Завершено сеансов: {count}.")


@router.post("/admin/users/{user_id}/reset", response_class=HTMLResponse)
async def reset_password(
    request: Request, user_id: int, signed_in: UserAdmin, session: SessionDep
) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    me = signed_in.user
    try:
        issued = users.reset_link(session, me.tenant_id, user_id, actor=me.email, invited_by=me.id)
    except CloudError as exc:
        return _users_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return render_office(
        request,
        signed_in,
        "office/issued.html",
        title="Ссылка для смены пароля",
        explanation=f"Отправьте эту ссылку {issued.invitation.email}: по ней задают новый пароль.",
        secret=issued.link(public_url(request)),
        note=f"Ссылка действует до {issued.invitation.expires_at:%d.%m.%Y %H:%M} UTC; "
        "прежний пароль работает, пока новый не задан.",
        back="/admin/users",
    )


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
async def disable(request: Request, user_id: int, signed_in: UserAdmin, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    try:
        user = users.disable_user(session, signed_in.user.tenant_id, user_id, actor=signed_in.user.email)
    except CloudError as exc:
        return _users_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return _users_page(request, signed_in, session, notice=f"{user.email} отключён, его сеансы завершены.")


def _keys_page(
    request: Request,
    signed_in: SignedIn,
    session: SessionDep,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    keys = api_keys.list_keys(session, signed_in.user.tenant_id)
    return render_office(
        request, signed_in, "office/keys.html", status_code=status_code, keys=keys, error=error
    )


@router.get("/admin/keys", response_class=HTMLResponse)
def keys_page(request: Request, signed_in: KeyAdmin, session: SessionDep) -> HTMLResponse:
    return _keys_page(request, signed_in, session)


def _issued_key(request: Request, signed_in: SignedIn, title: str, secret: str, note: str) -> HTMLResponse:
    return render_office(
        request,
        signed_in,
        "office/issued.html",
        title=title,
        explanation="Вставьте ключ в настройки интеграции: заголовок Authorization: Bearer <ключ>.",
        secret=secret,
        note=note,
        back="/admin/keys",
    )


@router.post("/admin/keys", response_class=HTMLResponse)
async def add_key(request: Request, signed_in: KeyAdmin, session: SessionDep) -> Response:
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    try:
        _key, secret = api_keys.add(
            session,
            signed_in.user.tenant_id,
            form.get("name", ""),
            form.get("scopes", "read"),
            actor=signed_in.user.email,
        )
    except CloudError as exc:
        return _keys_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return _issued_key(request, signed_in, "Ключ создан", secret, "")


@router.post("/admin/keys/{key_id}/rotate", response_class=HTMLResponse)
async def rotate_key(request: Request, key_id: int, signed_in: KeyAdmin, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    _key, secret = api_keys.rotate(
        session, signed_in.user.tenant_id, key_id, actor=signed_in.user.email, grace=timedelta(hours=24)
    )
    return _issued_key(request, signed_in, "Ключ перевыпущен", secret, "Старый ключ работает ещё 24 часа.")


@router.post("/admin/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: int, signed_in: KeyAdmin, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    api_keys.revoke(session, signed_in.user.tenant_id, key_id, actor=signed_in.user.email)
    return RedirectResponse("/admin/keys", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, signed_in: Auditor, session: SessionDep) -> HTMLResponse:
    return render_office(
        request,
        signed_in,
        "office/audit.html",
        entries=audit.entries(session, signed_in.user.tenant_id),
        labels=audit.LABELS,
    )
