"""The e-receipt page from a resolved template: the cloud's own markup per block type
(`cloud/pages/templates/blocks/*.html`, autoescaped), with the marketer's text run through Jinja2's sandbox.

- Every block is `<section class="block block-TYPE" data-block="ID">`, in the template's order.
- Every outbound link goes through `click_url(block_id, url)` (the tracking redirect that carries `ec_click`).
- Forms post to `/r/act` with a per-page signed token (`form_token`); the page works without JavaScript.
- The promo countdown is rendered on the server; `/static/countdown.js` only ticks it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from cloud.pages.blocks import (
    LEGAL,
    TEXT_FIELDS,
    BlockType,
    Question,
    Recommendation,
    Shown,
    StylesSettings,
    Template,
)
from cloud.pages.receipt_pdf import PDF_PATH
from cloud.pages.receipt_view import ReceiptView
from cloud.pages.render import qr_png
from cloud.web.templating import environment, sandboxed_environment

ClickUrl = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class PromoView:
    code: str
    headline: str
    starts_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class BlockState:
    """What the database says about one marketing block for this buyer."""

    done: bool = False  # signed up / answered on this receipt (or a member already)
    question: Question | None = None  # enrichment: what to ask now
    promo: PromoView | None = None
    picks: tuple[Recommendation, ...] = ()  # recommendations for the categories bought
    hide: bool = False  # nothing to offer (no contact to sign up, every question answered, no code)


@dataclass(frozen=True, slots=True)
class PageContext:
    receipt_id: int | None  # None: an editor preview (forms are shown, not usable)
    page_path: str  # where a form's answer returns to
    click_url: ClickUrl
    form_token: Callable[[str], str]  # block id → the signed token its form carries
    now: datetime
    states: Mapping[str, BlockState] = field(default_factory=dict)
    style_url: str = ""
    tracking: Mapping[str, str] | None = None  # the page script's view token and URLs (pages.tracking)
    countdown: Callable[[datetime], str] | None = None  # a countdown's text; None: `remaining` at `now`


# The sandbox: one environment, compiled tenant texts cached by their source (they change only on save).
@lru_cache(maxsize=1)
def _sandbox() -> ImmutableSandboxedEnvironment:
    return sandboxed_environment()


def _literal_escaped(source: str) -> str:
    """The source with its literal text escaped: autoescape covers only what `{{ }}` prints, and a
    marketer's `<script>` typed as text must show as text too."""
    return "".join(
        str(escape(value)) if kind == "data" else value for _line, kind, value in _sandbox().lex(source)
    )


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Any:
    return _sandbox().from_string(_literal_escaped(source))


def tenant_text(source: str, variables: Mapping[str, Any]) -> Markup:
    """The marketer's text with `{{ seller }}`-style variables, escaped; a broken template shows as typed."""
    if "{" not in source:
        return escape(source)
    try:
        return Markup(_compiled(source).render(**variables))
    except TemplateError:
        return escape(source)


def text_errors(template: Template, variables: Mapping[str, Any]) -> list[str]:
    """Every tenant text that does not render in the sandbox (the editor refuses to save these)."""
    problems = []
    for block in template.blocks:
        for overrides in [None, *[r.settings for r in block.rules]]:
            settings = block.parsed(overrides)
            for name in TEXT_FIELDS & set(type(settings).model_fields):
                source = getattr(settings, name)
                try:
                    _sandbox().from_string(_literal_escaped(source)).render(**variables)
                except TemplateError as exc:
                    problems.append(f"{block.id}.{name}: {exc}")
    return problems


def sample_variables() -> dict[str, Any]:
    return {"seller": "ООО «Пример»", "store": "Магазин", "total": 100_00, "address": "", "number": 1}


def variables_of(view: ReceiptView) -> dict[str, Any]:
    """What a tenant text may use: `{{ seller }}`, `{{ store }}`, `{{ total | rubles }}`, `{{ address }}`,
    `{{ number }}` (the receipt number)."""
    return {
        "seller": view.seller,
        "store": view.place,
        "total": view.total,
        "address": view.address,
        "number": view.number,
    }


def remaining(until: datetime, now: datetime) -> str:
    """`2 д 03:15:20` or `03:15:20`: the countdown's text without JavaScript."""
    left = max(until - now, timedelta(0))
    days, rest = divmod(int(left.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days} д {clock}" if days else clock


def style_url(settings: StylesSettings) -> str:
    """The stylesheet of a styles block: its values are in the URL (validated), so it needs no lookup and
    can be cached for ever."""
    query = {
        "a": settings.accent[1:],
        "b": settings.background[1:],
        "t": settings.text[1:],
        "f": settings.font,
    }
    return "/r/style.css?" + urlencode(query)


FONTS = {
    "system": "system-ui,sans-serif",
    "serif": "Georgia,'Times New Roman',serif",
    "mono": "ui-monospace,Menlo,Consolas,monospace",
}


def stylesheet(settings: StylesSettings) -> str:
    return (
        f"body{{background:{settings.background};color:{settings.text};font-family:{FONTS[settings.font]}}}"
        f".block a.button,.block button{{background:{settings.accent};border-color:{settings.accent}}}"
        f".block h2,.block a{{color:{settings.accent}}}.block a.button{{color:#fff}}"
        f"@media print{{body{{background:#fff;color:#000}}}}"
    )


@lru_cache(maxsize=1)
def _block_templates() -> dict[str, Any]:
    """The block partials and the page, looked up once per process: a dynamic include would stat each file
    per block, and even a lookup per render checks 15 files' times (a changed template needs a restart).
    They come from an overlay of the cloud's environment that never checks its files again: the page's
    `extends` and the partials' own includes (`_form.html`, `_tracking.html`) went through `get_template`
    on every render, ten `stat` calls a page."""
    env = environment().overlay(auto_reload=False)
    return {
        "page": env.get_template("pages/page.html"),
        **{t.value: env.get_template(f"pages/blocks/{t.value}.html") for t in BlockType},
    }


def render_legal_block(view: ReceiptView, shown: Shown) -> Markup:
    """A legal block's HTML (receipt, totals, QR) exactly as the page includes it: these partials read
    only the receipt's view, their settings and tenant texts, so the result is the same on every fetch of
    the receipt (`cloud.pages.legal_part` keeps it)."""
    assert shown.block.type in LEGAL
    variables = variables_of(view)
    html: str = _block_templates()[shown.block.type.value].render(
        r=view,
        b=shown.settings,
        t=lambda source: tenant_text(source, variables),
        qr_code=qr_png(view.qr) if shown.block.type is BlockType.QR else "",
    )
    return Markup(html)


def render_page(
    view: ReceiptView, shown: list[Shown], ctx: PageContext, legal: Mapping[str, Markup] | None = None
) -> str:
    """`legal`: legal blocks already rendered (`render_legal_block`), by block id; the others are drawn
    here."""
    variables = variables_of(view)
    styles = next((s.settings for s in shown if isinstance(s.settings, StylesSettings)), None)
    promo_shown = any(
        s.block.type is BlockType.PROMO and (st := ctx.states.get(s.block.id)) and st.promo for s in shown
    )
    partials = _block_templates()
    html: str = partials["page"].render(
        r=view,
        shown=[s for s in shown if not (st := ctx.states.get(s.block.id)) or not st.hide],
        ctx=ctx,
        states=ctx.states,
        empty=BlockState(),
        t=lambda source: tenant_text(source, variables),
        click_url=ctx.click_url,
        qr_code=qr_png(view.qr) if legal is None else "",
        legal=legal or {},
        style_href=style_url(styles) if styles else "",
        countdown=promo_shown,
        remaining=ctx.countdown or (lambda until: remaining(until, ctx.now)),
        preview=ctx.receipt_id is None,
        partials=partials,
        tracking=ctx.tracking,
        pdf_href=f"{ctx.page_path}/{PDF_PATH}" if ctx.page_path else "",
    )
    return html
