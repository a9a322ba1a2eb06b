"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped). The FNS QR code is an inline 1-bit PNG on the page
and in the PDF: no script, no request to anyone else."""

import base64
import struct
import zlib
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from qrcode.constants import ERROR_CORRECT_M

from cloud.pages import qr
from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=4096)  # a reloaded page, or one opened by preview and person, draws its code once
def qr_png(text: str) -> Markup:
    """`text` as a QR code in an `<img>` of a 1-bit PNG inline, a pixel per module, which the stylesheets
    scale unsmoothed (`image-rendering: pixelated`). Nothing from `text` is written into the markup but the
    picture. Half a kilobyte where an SVG path of the same code was five, drawn in a third of the CPU time
    (the page draws a new code for each receipt); WeasyPrint draws it in ~1 ms where it took ~0.1 s to
    parse and draw the path. The mask is fixed (`cloud.pages.qr`; any of the eight is valid for readers)."""
    rows = qr.matrix(text, ERROR_CORRECT_M, border=2)
    size = len(rows)
    # Grayscale at one bit: 1 is white, so a dark module is a 0 bit; each row starts with filter type 0.
    raw = b"".join(
        b"\0" + int(row.translate(_INVERT).ljust(-(-size // 8) * 8, "1"), 2).to_bytes(-(-size // 8), "big")
        for row in rows
    )
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )
    return Markup(
        f'<img class="qr" alt="QR-код чека ФНС" width="{size}" height="{size}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    )


_INVERT = str.maketrans("01", "10")


def waiting_page(next_url: str) -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return _render("waiting.html", next_url=next_url)


def form_error_page(message: str, back: str) -> str:
    """A form the page could not take (a mistyped e-mail): the reason and the way back."""
    return _render("form_error.html", message=message, back=back)


def not_found_page(reason: str = "") -> str:
    return _render("not_found.html", reason=reason)
