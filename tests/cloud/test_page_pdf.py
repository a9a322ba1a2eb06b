"""The e-receipt's PDF download over real HTTP from the served app, read back with pypdf: every legal field,
the FNS QR string, the contact masked, no marketing block; the same token check as the page (a guessed token
is 404, a used landing 410); a download is neither a fetch nor an open."""

import io
import re
import threading
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from qrcode.constants import ERROR_CORRECT_M

from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.pages import router
from cloud.tracking.events import EventType
from cloud.tracking.store import events_where
from tests.cloud.conftest import Cloud, Registered
from tests.cloud.test_page_qr import reference
from tests.cloud.test_pages import INN, LANDING, _post, _seller, _two_rates
from tests.support.receipts import wire_receipt

RUSSIAN_NAME = "%D1%87%D0%B5%D0%BA"  # "чек", percent-encoded UTF-8


def _pdf_text(content: bytes) -> str:
    pdf = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pdf.pages))


def _link_token(cloud: Cloud, reg: Registered, fd: int) -> str:
    _seller(cloud, reg)
    _post(cloud, reg, _two_rates(fd, extra={"landing": LANDING, "cashier": "Иванова А."}))
    cloud.run_jobs()  # the delivery, whose link the buyer gets
    with cloud.session() as s:
        token: str = s.execute(sa.select(DeliveryRow.link_token)).scalar_one()
    return token


def test_the_pdf_has_every_legal_field_the_qr_and_the_contact_masked(cloud: Cloud) -> None:
    reg = cloud.register()
    token = _link_token(cloud, reg, 7)
    page = cloud.http.get(f"/r/{token}")
    assert f'href="/r/{token}/receipt.pdf"' in page.text  # the page's «Скачать PDF»
    resp = cloud.http.get(f"/r/{token}/receipt.pdf")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == (
        f"attachment; filename=\"chek-7-2026-11-23.pdf\"; filename*=UTF-8''{RUSSIAN_NAME}-7-2026-11-23.pdf"
    )
    assert resp.headers["cache-control"] == "private, no-store"
    text = _pdf_text(resp.content)
    for field in [
        'ООО "Ромашка"',
        f"ИНН {INN}",
        "Адрес: г. Екатеринбург, ул. Ленина, 1",
        "Место расчётов: Магазин «Ромашка»",
        "Кассовый чек. Приход",
        "23.11.2026 14:27 (Asia/Yekaterinburg, UTC+05:00)",
        "Кофе",
        "Молоко 3,2%",
        "Итого: 232.00 ₽",
        "Наличными 32.00 ₽",
        "Безналичными 200.00 ₽",
        "Сумма НДС 20% 30.00 ₽",
        "Сумма НДС 10% 4.73 ₽",
        "СНО УСН доход",
        "Кассир Иванова А.",
        "РН ККТ 0001633468026797",
        "ФН 9251440300227597",
        "ФД 7",
        "ФПД 600000007",
        "ФФД 1.05",
        "Покупатель +7 *** ***-45-67",
        "nalog.gov.ru",
        "t=20261123T1427&s=232.00&fn=9251440300227597&i=7&fp=600000007&n=1",  # the FNS QR's string
        "стр. 1 из 1",
    ]:
        assert field in text, field
    assert "1234567" not in text.replace(" ", "").replace("-", "")  # the full phone nowhere
    assert "Вступите в программу лояльности" not in text  # the default template's marketing is left out
    assert "Скачать PDF" not in text
    # The FNS QR code on paper is, module for module, the `qrcode` package's code of the receipt's string.
    pdf = PdfReader(io.BytesIO(resp.content))
    [image] = pdf.pages[0].images
    rows = reference("t=20261123T1427&s=232.00&fn=9251440300227597&i=7&fp=600000007&n=1", ERROR_CORRECT_M)
    assert image.image is not None
    pixels = image.image.convert("L")
    assert pixels.size == (len(rows), len(rows))
    drawn = [
        "".join("1" if pixels.getpixel((x, y)) == 0 else "0" for x in range(len(rows)))
        for y in range(len(rows))
    ]
    assert drawn == rows
    meta = pdf.metadata
    assert meta is not None
    assert meta.title == "Кассовый чек. Приход № 7 от 23.11.2026 14:27"
    # A download is not a page view: no fetch event beside the page's one, no open stamped on the delivery.
    with cloud.session() as s:
        fetches = events_where(s, reg.tenant_id, types=[EventType.RECEIPT_FETCH])
        opened = s.execute(sa.select(DeliveryRow.opened_at)).scalar_one()
    assert len(fetches) == 1
    assert opened is None


def test_a_guessed_token_is_404_as_for_the_page(cloud: Cloud) -> None:
    reg = cloud.register()
    token = _link_token(cloud, reg, 8)
    for path in [
        "/r/" + "x" * 20 + "/receipt.pdf",
        "/r/" + token[:-1] + ("A" if token[-1] != "A" else "B") + "/receipt.pdf",
        "/r/short/receipt.pdf",
        f"/r/c/{reg.register_id}/never-issued-token/receipt.pdf",
        f"/r/c/{reg.register_id + 1}/{LANDING}/receipt.pdf",  # another register's token space
    ]:
        resp = cloud.http.get(path)
        assert resp.status_code == 404, path
        assert resp.headers["content-type"].startswith("text/html")


def test_the_landings_pdf_and_a_used_landing_is_gone(cloud: Cloud) -> None:
    reg = cloud.register()
    _seller(cloud, reg)
    _post(cloud, reg, _two_rates(9, extra={"landing": LANDING}))
    path = f"/r/c/{reg.register_id}/{LANDING}"
    assert f'href="{path}/receipt.pdf"' in cloud.http.get(path).text
    resp = cloud.http.get(f"{path}/receipt.pdf")
    assert resp.status_code == 200
    assert "ФПД 600000009" in _pdf_text(resp.content)
    assert 'filename="chek-9-2026-11-23.pdf"' in resp.headers["content-disposition"]
    with cloud.session() as s:
        row = s.execute(sa.select(ReceiptRow)).scalar_one()
        row.received_at -= timedelta(days=3)
        s.add(row)
        s.commit()
    assert cloud.http.get(f"{path}/receipt.pdf").status_code == 410


def test_a_render_holds_up_neither_the_event_loop_nor_the_pages_threads(cloud: Cloud) -> None:
    """While a long receipt's PDF renders (seconds: 120 items over 10 pages), other requests are answered: a
    sync endpoint (the threadpool) and an async one (the event loop). Ordering only, no timed assert."""
    reg = cloud.register()
    items = [
        {"name": f"Товар {i}", "price": 100 + i, "quantity": "1", "total": 100 + i, "vat": "vat20"}
        for i in range(120)
    ]
    total = sum(i["total"] for i in items)
    payments = [{"kind": "card", "amount": total}]
    _post(
        cloud, reg, wire_receipt(11, total=total, items=items, payments=payments, extra={"landing": LANDING})
    )
    done: list[httpx.Response] = []
    base = str(cloud.http.base_url).rstrip("/")
    pdf_url = f"{base}/r/c/{reg.register_id}/{LANDING}/receipt.pdf"
    download = threading.Thread(target=lambda: done.append(httpx.get(pdf_url, timeout=120)))
    download.start()
    answered_meanwhile = 0
    with httpx.Client(base_url=base, timeout=30) as other:
        while download.is_alive():
            assert other.get("/r/style.css?a=1f3b57&b=ffffff&t=111111&f=system").status_code == 200  # sync
            assert other.post("/r/act", data={"r": "1"}).status_code == 403  # async (a form without token)
            answered_meanwhile += download.is_alive()
    download.join()
    assert done[0].status_code == 200
    assert len(PdfReader(io.BytesIO(done[0].content)).pages) >= 2
    assert answered_meanwhile >= 3


def test_a_full_queue_of_renders_answers_503_with_the_way_back(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = cloud.register()
    _seller(cloud, reg)
    _post(cloud, reg, _two_rates(12, extra={"landing": LANDING}))
    monkeypatch.setattr(router, "PDF_QUEUE", 0)  # every download finds the queue full
    path = f"/r/c/{reg.register_id}/{LANDING}"
    resp = cloud.http.get(f"{path}/receipt.pdf")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "30"
    assert "Попробуйте скачать чек через минуту" in resp.text
    assert f'<a href="{path}">Вернуться к чеку</a>' in resp.text
