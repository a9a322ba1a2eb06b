"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped). The FNS QR code is an inline SVG: no script, no
request to anyone else."""

import re
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from qrcode.constants import ERROR_CORRECT_M

from cloud.pages import qr
from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


_DARK = re.compile("1+")


@lru_cache(maxsize=4096)  # a reloaded page, or one opened by preview and person, draws its code once
def qr_svg(text: str) -> Markup:
    """`text` as an SVG QR code: one path of horizontal runs of dark modules (nothing from `text` is written
    into the markup). The mask is fixed (any of the eight is valid for readers): choosing the best one and
    qrcode's SVG writer cost ~25 ms a page, 20× the rest of it."""
    rows = qr.matrix(text, ERROR_CORRECT_M, border=2)
    runs = [
        f"M{m.start()} {y}h{len(m[0])}v1h-{len(m[0])}z"
        for y, row in enumerate(rows)
        for m in _DARK.finditer(row)
    ]
    size = len(rows)
    return Markup(
        f'<svg class="qr" role="img" aria-label="QR-код чека ФНС" width="{size}mm" height="{size}mm" '
        f'viewBox="0 0 {size} {size}" xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">'
        f'<path d="{"".join(runs)}" fill="#000"/></svg>'
    )


def waiting_page(next_url: str) -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return _render("waiting.html", next_url=next_url)


def form_error_page(message: str, back: str) -> str:
    """A form the page could not take (a mistyped e-mail): the reason and the way back."""
    return _render("form_error.html", message=message, back=back)


def not_found_page(reason: str = "") -> str:
    return _render("not_found.html", reason=reason)
