"""Rendering a head-office page: the layout needs the user, what their role may open, and the CSRF token."""

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from cloud.accounts.roles import Permission, Role
from cloud.accounts.sessions import SignedIn
from cloud.accounts.users import scope_of
from cloud.web.templating import render

# The menu: (path, label, permissions); a user sees the entries their role allows (any one of them).
MENU = (
    ("/reports/fleet", "Кассы", frozenset({Permission.FLEET, Permission.REPORTS})),
    ("/reports/sending", "Отчёты", frozenset({Permission.REPORTS})),
    ("/admin/page", "Шаблон чека", frozenset({Permission.TEMPLATES})),
    ("/admin/users", "Пользователи", frozenset({Permission.USERS})),
    ("/admin/keys", "API-ключи", frozenset({Permission.SETTINGS})),
    ("/identity", "Покупатели", frozenset({Permission.SETTINGS})),
    ("/admin/audit", "Журнал", frozenset({Permission.AUDIT})),
)


def _allows(role: Role, permissions: frozenset[Permission]) -> bool:
    return any(role.allows(p) for p in permissions)


def home_path(role: Role) -> str:
    """Where a user lands after sign-in: the first page their role may open."""
    for path, _label, permissions in MENU:
        if _allows(role, permissions):
            return path
    return "/account"


def render_office(
    request: Request, signed_in: SignedIn, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    role = Role(signed_in.user.role)
    menu = [(path, label) for path, label, permissions in MENU if _allows(role, permissions)]
    return render(
        request,
        name,
        status_code=status_code,
        me=signed_in.user,
        role_label=role.label,
        scope_label=scope_of(signed_in.user).describe(),
        menu=menu,
        current=request.url.path,
        csrf=signed_in.session.csrf_token,
        **context,
    )
