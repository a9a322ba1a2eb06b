"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped). The FNS QR code is an inline SVG: no script, no
request to anyone else."""

from functools import lru_cache
from typing import Any

import qrcode
from markupsafe import Markup
from qrcode.constants import ERROR_CORRECT_M

from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


@lru_cache(maxsize=4096)  # a reloaded page, or one opened by preview and person, draws its code once
def qr_svg(text: str) -> Markup:
    """`text` as an SVG QR code: one path of horizontal runs of dark modules (nothing from `text` is written
    into the markup). The mask is fixed (any of the eight is valid for readers): choosing the best one and
    qrcode's SVG writer cost ~25 ms a page, 20× the rest of it."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, mask_pattern=0)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()  # with the border
    runs = []
    for y, row in enumerate(matrix):
        x, width = 0, len(row)
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    size = len(matrix)
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
