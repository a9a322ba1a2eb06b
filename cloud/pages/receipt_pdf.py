"""The e-receipt as a PDF the buyer downloads (`/r/{token}/receipt.pdf`): the legal part of the page only, the
same partials the page uses for the receipt, totals and fiscal blocks (every field of 54-FZ art. 4.7, the FNS
QR code, the contact masked), none of the marketing blocks, no script, no image from elsewhere. Rendered by
`cloud.web.pdf` (WeasyPrint) on an A4 page in DejaVu Sans. Nothing here is cached: a PDF is one buyer's."""

from pathlib import Path
from urllib.parse import quote

from markupsafe import escape

from cloud.pages.blocks import ReceiptSettings
from cloud.pages.receipt_view import ReceiptView, receipt_view
from cloud.pages.render import qr_png
from cloud.pages.service import Found
from cloud.web.pdf import pdf_bytes
from cloud.web.templating import environment
from sync.protocol import receipt_from_wire

# Under the page's own path: /r/{token}/receipt.pdf, /r/c/{register}/{landing}/receipt.pdf.
PDF_PATH = "receipt.pdf"
STYLESHEET = Path(__file__).parent / "templates" / "receipt_pdf.css"


def view_of(found: Found) -> ReceiptView:
    return receipt_view(receipt_from_wire(found.receipt.payload), found.tenant, found.store)


def pdf_html(view: ReceiptView) -> str:
    """The legal blocks in the law's order (a template may move them on the page; on paper they are fixed).
    The receipt block's note is the marketer's line, not a legal field: left out."""
    return (
        environment()
        .get_template("pages/receipt_pdf.html")
        .render(r=view, b=ReceiptSettings(), t=escape, qr_code=qr_png(view.qr), pdf_href="", preview=False)
    )


def receipt_pdf(view: ReceiptView) -> bytes:
    """The PDF's bytes: hundreds of milliseconds of CPU (call it off the event loop)."""
    return pdf_bytes(pdf_html(view), STYLESHEET.read_text(encoding="utf-8"))


def file_name(view: ReceiptView) -> str:
    """`chek-<FD>-<date>.pdf`: ASCII for every browser and mail client; `content_disposition` adds the
    Russian name (`чек-…`) for those that read RFC 5987's `filename*`."""
    return f"chek-{view.fd}-{view.day}.pdf"


def content_disposition(view: ReceiptView) -> str:
    russian = f"чек-{view.fd}-{view.day}.pdf"
    return f"attachment; filename=\"{file_name(view)}\"; filename*=UTF-8''{quote(russian)}"
