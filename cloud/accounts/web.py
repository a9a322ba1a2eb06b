"""Head office's sign-in pages: sign in and out, accept an invitation, the landing page.

The session cookie holds a random id only: HttpOnly, SameSite=Lax, Secure when served over HTTPS,
path `/`, no Max-Age (it dies with the browser; the server ends it earlier: see `sessions`).
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from cloud.accounts import passwords, sessions, users
from cloud.accounts.models import User
from cloud.accounts.roles import Role
from cloud.deps import SESSION_COOKIE, SessionDep, SignedInUser
from cloud.errors import CloudError, Gone, InvalidInput, NotFound, RateLimited, Unauthorized
from cloud.web.forms import check_csrf, read_form
from cloud.web.office import home_path, render_office
from cloud.web.templating import render

router = APIRouter(include_in_schema=False)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def _safe_next(value: str, fallback: str) -> str:
    """Only a path on this site: never an open redirect to someone else's."""
    parts = urlsplit(value)
    if value.startswith("/") and not value.startswith("//") and not parts.scheme and not parts.netloc:
        return value
    return fallback


def _signed_in_response(request: Request, session: Session, user_id: int, target: str) -> Response:
    user = session.get(User, user_id)
    assert user is not None
    cookie, _row = sessions.start(session, user, request.headers.get("user-agent", ""))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/", response_class=HTMLResponse)
def home(session: SessionDep, cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None) -> Response:
    signed_in = sessions.resolve(session, cookie)
    target = home_path(Role(signed_in.user.role)) if signed_in else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "office/login.html", next=_safe_next(next, ""), email="", error=None, notice=None)


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    form = await read_form(request)
    email = form.get("email", "")[:254]
    target = form.get("next", "")
    try:
        user = users.authenticate(session, email, form.get("password", ""), client_ip(request))
    except (Unauthorized, RateLimited) as exc:
        # The page shows the reason; the status and Retry-After stay what the error tree says.
        return render(
            request,
            "office/login.html",
            status_code=exc.status_code,
            headers=exc.headers,
            next=_safe_next(target, ""),
            email=email,
            error=exc.detail,
            notice=None,
        )
    assert user.id is not None
    return _signed_in_response(request, session, user.id, _safe_next(target, home_path(Role(user.role))))


@router.post("/logout")
async def logout(
    request: Request, session: SessionDep, cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> Response:
    signed_in = sessions.resolve(session, cookie)
    if signed_in is not None:
        check_csrf(await read_form(request), signed_in.session.csrf_token)
        sessions.end(session, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, signed_in: SignedInUser) -> HTMLResponse:
    return render_office(request, signed_in, "office/account.html")


def _invite_page(
    request: Request, token: str, error: str | None, status_code: int, session: Session
) -> Response:
    try:
        invitation = users.open_invitation(session, token)
    except (NotFound, Gone) as exc:
        return render(
            request, "office/invite.html", status_code=exc.status_code, error=exc.detail, invitation=None
        )
    return render(
        request,
        "office/invite.html",
        status_code=status_code,
        error=error,
        invitation=invitation,
        token=token,
        role_label=Role(invitation.role).label,
        reset=users.is_registered(session, invitation.email),
        min_length=passwords.MIN_LENGTH,
    )


@router.get("/invite/{token}", response_class=HTMLResponse)
def invitation_form(request: Request, token: str, session: SessionDep) -> Response:
    return _invite_page(request, token, None, 200, session)


@router.post("/invite/{token}")
async def accept_invitation(request: Request, token: str, session: SessionDep) -> Response:
    form = await read_form(request)
    password = form.get("password", "")
    try:
        if password != form.get("password2", ""):
            raise InvalidInput("пароли не совпадают")
        user = users.accept_invitation(session, token, password)
    except CloudError as exc:
        return _invite_page(request, token, exc.detail, exc.status_code, session)
    assert user.id is not None
    return _signed_in_response(request, session, user.id, home_path(Role(user.role)))
