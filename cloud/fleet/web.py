"""The head-office fleet page: stores and registers with their state, server-rendered HTML.

Login: the tenant's api key typed into a form (POST, so it never lands in a URL, a proxy log or the
browser history), checked, and kept in an HttpOnly, SameSite=Strict cookie scoped to /fleet (Secure when
served over HTTPS). The page only reads; logging out clears the cookie. Every value is HTML-escaped.
"""

import html
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from cloud.deps import SessionDep
from cloud.fleet import service
from cloud.fleet.router import PolicyDep
from cloud.fleet.schemas import FleetStatus, RegisterHealth

COOKIE = "echeck_fleet"
PATH = "/fleet"
MAX_FORM_BYTES = 4096

router = APIRouter(include_in_schema=False)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}.online{color:#176d2c}.offline{color:#a15c00}.stale,.never_seen{color:#b00020}
.state{font-weight:600}.problems{color:#b00020}.muted{color:#777}form.inline{display:inline}
"""


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="30">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _login_page(error: str | None = None) -> str:
    note = f'<p class="problems">{html.escape(error)}</p>' if error else ""
    return _page(
        "echeck fleet: sign in",
        "<h1>echeck fleet</h1>"
        f"{note}"
        f'<form method="post" action="{PATH}/login">'
        '<label>Tenant api key <input type="password" name="api_key" autocomplete="off" size="48" required>'
        '</label> <button type="submit">Sign in</button></form>'
        '<p class="muted">The key from <code>echeck-cloud tenant add</code>.</p>',
    )


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _fmt_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _register_row(r: RegisterHealth) -> str:
    skew = "—" if r.clock_skew_s is None else f"{r.clock_skew_s:+.1f} s" + (" ⚠" if r.clock_off else "")
    problems = "<br>".join(html.escape(p) for p in r.problems) or '<span class="muted">none</span>'
    cells = [
        str(r.id),
        html.escape(r.hostname or "—"),
        f'<span class="state {html.escape(r.state)}">{html.escape(r.state.replace("_", " "))}</span>',
        html.escape(_fmt_time(r.last_heartbeat_at)),
        str(r.queue_depth),
        html.escape(_fmt_age(r.oldest_unsynced_age_s)),
        html.escape(_fmt_time(r.last_sync_at)),
        html.escape(skew),
        html.escape(r.agent_version or "—"),
        f'<span class="problems">{problems}</span>',
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_fleet(status_: FleetStatus) -> str:
    t = status_.totals
    parts = [
        "<h1>echeck fleet</h1>",
        f'<p>{t.registers} registers: <span class="online">{t.online} online</span>, '
        f'<span class="offline">{t.offline} offline</span>, <span class="stale">{t.stale} stale</span>, '
        f"{t.never_seen} never seen; {t.with_problems} with problems; {t.queued} receipts waiting. "
        f'<span class="muted">As of {html.escape(_fmt_time(status_.generated_at))}; online = heartbeat '
        f"within its interval + {status_.policy.grace_s:.0f} s, stale after "
        f"{status_.policy.stale_after_s:.0f} s.</span></p>",
        f'<form class="inline" method="post" action="{PATH}/logout"><button>Sign out</button></form>',
    ]
    head = (
        "<tr><th>register</th><th>host</th><th>state</th><th>last heartbeat</th><th>queued</th>"
        "<th>oldest unsynced</th><th>last sync</th><th>clock skew</th><th>version</th><th>problems</th></tr>"
    )
    for store in status_.stores:
        state = store.state or "no registers"
        parts.append(
            f'<h2>{html.escape(store.name)} <small class="state {html.escape(state)}">'
            f"{html.escape(state.replace('_', ' '))}</small></h2>"
        )
        rows = "".join(_register_row(r) for r in store.registers)
        parts.append(f"<table>{head}{rows}</table>" if rows else '<p class="muted">No registers yet.</p>')
    return _page("echeck fleet", "".join(parts), refresh=True)


def _tenant_id(session: Session, key: str | None) -> int | None:
    tenant = service.authenticate_tenant(session, key or "")
    return tenant.id if tenant else None


@router.get(PATH, response_class=HTMLResponse)
def fleet_page(
    session: SessionDep,
    policy: PolicyDep,
    key: Annotated[str | None, Cookie(alias=COOKIE)] = None,
) -> Response:
    tenant_id = _tenant_id(session, key)
    if tenant_id is None:
        return RedirectResponse(f"{PATH}/login", status_code=status.HTTP_303_SEE_OTHER)
    return HTMLResponse(render_fleet(service.fleet_status(session, tenant_id, policy)))


@router.get(PATH + "/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return HTMLResponse(_login_page())


@router.post(PATH + "/login")
async def login(request: Request, session: SessionDep) -> Response:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return HTMLResponse(_login_page("The form is too large."), status_code=413)
    key = (parse_qs(raw.decode("utf-8", "replace")).get("api_key") or [""])[0].strip()
    if _tenant_id(session, key) is None:
        return HTMLResponse(_login_page("Unknown api key."), status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(PATH, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        key,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,  # a working day; then sign in again
    )
    return response


@router.post(PATH + "/logout")
def logout() -> Response:
    response = RedirectResponse(f"{PATH}/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path=PATH)
    return response
