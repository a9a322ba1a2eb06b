"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped). The FNS QR code is an inline SVG: no script, no
request to anyone else."""

from functools import lru_cache
from typing import Any

import qrcode
import qrcode.image.svg
from markupsafe import Markup

from cloud.pages.receipt_view import ReceiptView
from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


@lru_cache(maxsize=4096)
def qr_svg(text: str) -> Markup:
    """`text` as an SVG QR code (paths only; qrcode writes nothing from `text` into the markup). Cached:
    drawing it (qrcode's mask selection) is most of a page's render time, and a page is reloaded."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    return Markup(svg.replace("<svg ", '<svg class="qr" role="img" aria-label="QR-код чека ФНС" ', 1))


def receipt_page(view: ReceiptView) -> str:
    return _render("receipt.html", r=view, qr_svg=qr_svg(view.qr))


def waiting_page(next_url: str) -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return _render("waiting.html", next_url=next_url)


def form_error_page(message: str, back: str) -> str:
    """A form the page could not take (a mistyped e-mail): the reason and the way back."""
    return _render("form_error.html", message=message, back=back)


def not_found_page(reason: str = "") -> str:
    return _render("not_found.html", reason=reason)
