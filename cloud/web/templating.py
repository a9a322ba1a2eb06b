"""Jinja2 environments.

- `environment()`: the cloud's own templates (head office in `cloud/web/templates`, the buyer's pages in
  `cloud/pages/templates`, dashboards in `cloud/reports/templates`), autoescaped, names prefixed `office/`,
  `pages/` and `reports/`.
- `sandboxed_environment()`: for templates a tenant edits (the e-receipt template): Jinja2's immutable
  sandbox, autoescaped, no access to attributes starting with `_`, no mutation of the data passed in, and
  no loader (a tenant's template cannot include the cloud's files).
"""

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import BaseLoader, Environment, PackageLoader, PrefixLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cloud.delivery.message import rubles


def _moment(value: datetime | None) -> str:
    return value.strftime("%d.%m.%Y %H:%M UTC") if value else "—"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} с"
    if seconds < 7200:
        return f"{seconds / 60:.0f} мин"
    return f"{seconds / 3600:.1f} ч"


FILTERS = {"moment": _moment, "age": _age, "rubles": rubles}


@cache
def environment() -> Environment:
    env = Environment(
        loader=PrefixLoader(
            {
                "office": PackageLoader("cloud.web", "templates"),
                "pages": PackageLoader("cloud.pages", "templates"),
                "reports": PackageLoader("cloud.reports", "templates"),
            }
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt variable fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def sandboxed_environment() -> ImmutableSandboxedEnvironment:
    """A fresh sandbox for one tenant's template source: `.from_string(source).render(...)`."""
    env = ImmutableSandboxedEnvironment(
        loader=BaseLoader(),
        autoescape=True,
        undefined=StrictUndefined,
    )
    env.filters.update(FILTERS)
    return env


def render(
    request: Request | None,
    name: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render `name` (e.g. "office/users.html") into an HTML answer."""
    html = environment().get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
