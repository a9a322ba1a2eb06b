"""The e-receipt as a small HTML page for a phone. Every value from a receipt is escaped."""

import html

from cloud.delivery.message import rubles
from cloud.ingest.models import ReceiptRow

_HEAD = (
    "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    "<style>body{font-family:system-ui,sans-serif;max-width:640px;margin:1em auto;padding:0 1em}"
    "td{padding:.2em .4em}td:last-child{text-align:right}</style>"
)


def receipt_page(receipt: ReceiptRow) -> str:
    items = "".join(
        f"<tr><td>{html.escape(str(i.get('name', '')))}</td>"
        f"<td>{html.escape(str(i.get('quantity', '')))}</td>"
        f"<td>{rubles(int(i.get('total', 0)))}</td></tr>"
        for i in receipt.payload.get("items", [])
    )
    f = receipt.payload.get("fiscal", {})
    return (
        f"{_HEAD}<title>Электронный чек</title><h1>Кассовый чек</h1>"
        f"<table>{items}</table><p><b>Итого: {rubles(receipt.total)} ₽</b></p>"
        f"<p>ФН {html.escape(str(f.get('fn_serial', '')))} ФД {html.escape(str(f.get('fd_number', '')))} "
        f"ФП {html.escape(str(f.get('fpd', '')))}<br>{html.escape(str(f.get('issued_at', '')))}</p>"
    )


def waiting_page() -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return (
        f"{_HEAD}<meta http-equiv=refresh content=5><title>Электронный чек</title>"
        "<h1>Чек почти готов</h1><p>Кассир закрывает покупку: чек появится на этой странице через несколько "
        "секунд. Страница обновится сама.</p>"
    )


def not_found_page() -> str:
    return f"{_HEAD}<title>Чек не найден</title><h1>Чек не найден</h1>"
