"""HTML + CSS → PDF with WeasyPrint: the one PDF renderer of the cloud (head office's dashboards, the buyer's
e-receipt). Needs Debian's Pango and a Cyrillic font (DejaVu); see docs/reports.md, "Exports".

WeasyPrint lays a page out in Python: hundreds of milliseconds of CPU. Routes call it off the event loop."""

PDF_MEDIA_TYPE = "application/pdf"


def pdf_bytes(html: str, stylesheet: str) -> bytes:
    """`html` on paper as `stylesheet` (its `@page` rules) lays it out. The HTML is the cloud's own template
    with no base URL: nothing is fetched from anywhere."""
    from weasyprint import CSS, HTML  # imported here: Pango is loaded only for PDFs

    document = HTML(string=html)
    pdf: bytes = document.write_pdf(stylesheets=[CSS(string=stylesheet)])
    return pdf
