"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped)."""

from typing import Any

from cloud.ingest.models import ReceiptRow
from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


def receipt_page(receipt: ReceiptRow) -> str:
    payload = receipt.payload
    items = [
        {
            "name": str(i.get("name", "")),
            "quantity": str(i.get("quantity", "")),
            "total": int(i.get("total", 0)),
        }
        for i in payload.get("items", [])
    ]
    fiscal = payload.get("fiscal", {})
    return _render(
        "receipt.html",
        items=items,
        total=receipt.total,
        fn=str(fiscal.get("fn_serial", "")),
        fd=str(fiscal.get("fd_number", "")),
        fp=str(fiscal.get("fpd", "")),
        issued_at=str(fiscal.get("issued_at", "")),
    )


def waiting_page() -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return _render("waiting.html")


def not_found_page() -> str:
    return _render("not_found.html")
