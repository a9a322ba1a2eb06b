"""The buyer's pages: the popup's QR landing waits (a bounded time) for the receipt, then shows it with every
field the law asks for; message links work; the page is small, escaped, masked and in the store's zone."""

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cloud.accounts import tenants
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.pages.router import MAX_WAITS
from cloud.tracking.events import EventType
from cloud.tracking.store import events_where
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered
from tests.support.receipts import wire_receipt

LANDING = "Zr4nd0m-landing0"
INN = "7707083893"


def _seller(cloud: Cloud, reg: Registered, time_zone: str = "Asia/Yekaterinburg") -> None:
    with cloud.session() as s:
        tenants.set_tenant_details(
            s, reg.tenant_id, legal_name='ООО "Ромашка"', inn=INN, taxation="usn_income"
        )
        tenants.set_store_details(
            s,
            reg.store_id,
            address="г. Екатеринбург, ул. Ленина, 1",
            settlement_place="Магазин «Ромашка»",
            time_zone=time_zone,
        )


def _two_rates(fd: int, **extra: Any) -> dict[str, Any]:
    """A sale at 20 % (two pieces with a 20.00 discount) and 10 %, paid partly in cash."""
    items = [
        {"name": "Кофе", "price": 10000, "quantity": "2", "total": 18000, "vat": "vat20"},
        {"name": "Молоко 3,2%", "price": 5200, "quantity": "1", "total": 5200, "vat": "vat10"},
    ]
    payments = [{"kind": "cash", "amount": 3200}, {"kind": "card", "amount": 20000}]
    doc = wire_receipt(
        fd,
        total=23200,
        contact={"kind": "phone", "value": "79161234567"},
        items=items,
        payments=payments,
        **extra,
    )
    return doc


def _post(cloud: Cloud, reg: Registered, receipt: dict[str, Any]) -> None:
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.json()["accepted"][0]["status"] == "stored", stored.text


def _text(html: str) -> str:
    """The page as a person reads it: tags gone, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#34;", '"').replace("&amp;", "&")


def test_qr_landing_waits_then_shows_the_receipt_a_fetch_not_an_open(cloud: Cloud) -> None:
    reg = cloud.register()
    url = f"/r/c/{reg.register_id}/{LANDING}"
    waiting = cloud.http.get(url)
    assert waiting.status_code == 200
    assert "Чек почти готов" in waiting.text
    assert f'url={url}?w=1"' in waiting.text  # the next reload counts its attempt
    assert waiting.headers["cache-control"] == "no-store"

    receipt = wire_receipt(
        1,
        contact={"kind": "email", "value": "maria@example.ru"},
        extra={"checkout_id": "T1-1", "landing": LANDING},
    )
    receipt["items"][0]["name"] = "<script>alert(1)</script>"
    _post(cloud, reg, receipt)
    cloud.run_jobs()  # "receipt stored" → its delivery (whose link the landing opens)

    shown = cloud.http.get(url + "?w=3")
    assert shown.status_code == 200
    assert "Итого: 52.00 ₽" in _text(shown.text)
    assert "<script>" not in shown.text  # every receipt value is escaped
    assert "maria@example.ru" not in shown.text
    assert "m***@example.ru" in shown.text  # the contact is masked
    with cloud.session() as s:
        opened = s.execute(sa.select(DeliveryRow)).scalar_one().opened_at
        fetches = events_where(s, reg.tenant_id, types=[EventType.RECEIPT_FETCH])
    assert opened is None  # a fetch is no open: only the page's script, run by a person, reports one
    assert [e.properties["via"] for e in fetches] == ["qr"]
    assert fetches[0].bot is not None  # python-httpx: no person's browser
    other = cloud.http.get(f"/r/c/{reg.register_id + 1}/{LANDING}")  # another register's token space
    assert "Чек почти готов" in other.text


def test_an_unknown_landing_says_so_after_a_bounded_wait(cloud: Cloud) -> None:
    reg = cloud.register()
    url = f"/r/c/{reg.register_id}/never-issued-token"
    page = cloud.http.get(url)
    attempts = 0
    while page.status_code == 200:
        assert "Чек почти готов" in page.text
        next_url = re.search(r'url=([^"]+)"', page.text)
        assert next_url is not None
        page = cloud.http.get(next_url.group(1))
        attempts += 1
        assert attempts <= MAX_WAITS
    assert page.status_code == 404
    assert "Чек по этому QR-коду не найден" in page.text
    assert "почти готов" not in page.text


def test_a_landing_older_than_its_window_is_gone(cloud: Cloud) -> None:
    reg = cloud.register()
    _post(cloud, reg, wire_receipt(3, extra={"landing": LANDING}))
    with cloud.session() as s:
        row = s.execute(sa.select(ReceiptRow)).scalar_one()
        row.received_at -= timedelta(days=3)
        s.add(row)
        s.commit()
    page = cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}")
    assert page.status_code == 410
    assert "Срок действия этого QR-кода истёк" in page.text


def test_every_legal_field_of_a_sale_with_two_vat_rates(cloud: Cloud) -> None:
    reg = cloud.register()
    _seller(cloud, reg)
    _post(cloud, reg, _two_rates(7, extra={"landing": LANDING, "cashier": "Иванова А."}))
    page = cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}")
    assert page.status_code == 200
    text = _text(page.text)
    for field in [
        'ООО "Ромашка"',
        f"ИНН {INN}",
        "Адрес: г. Екатеринбург, ул. Ленина, 1",
        "Место расчётов: Магазин «Ромашка»",
        "Кассовый чек. Приход",
        "Кофе 2 × 100.00 ₽ 180.00 ₽ Скидка −20.00 ₽ НДС 20% 30.00 ₽",
        "Молоко 3,2% 1 × 52.00 ₽ 52.00 ₽ НДС 10% 4.73 ₽",
        "Скидка −20.00 ₽ Итого: 232.00 ₽",
        "Наличными 32.00 ₽ Безналичными 200.00 ₽",
        "Сумма НДС 20% 30.00 ₽ Сумма НДС 10% 4.73 ₽",
        "СНО УСН доход",
        "Кассир Иванова А.",
        "Смена 363 Чек 7",
        "РН ККТ 0001633468026797",
        "ФН 9251440300227597 ФД 7 ФПД 600000007 ФФД 1.05",
        "Покупатель +7 *** ***-45-67",
        "Сайт ФНС nalog.gov.ru",
        "23.11.2026 14:27 (Asia/Yekaterinburg, UTC+05:00)",
    ]:
        assert field in text, field
    assert "79161234567" not in page.text
    # The FNS QR: the string under it, and an inline PNG (no script, no image from elsewhere).
    assert "t=20261123T1427&s=232.00&fn=9251440300227597&i=7&fp=600000007&n=1" in text
    assert re.search(r'<img class="qr" alt="QR-код чека ФНС"[^>]*src="data:image/png;base64,iVBOR', page.text)
    # The one script is the cloud's own (the view and block reports), never inline, nothing from elsewhere.
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/receipt.js" defer>']
    assert "http://" not in page.text


def test_a_return_says_so_and_its_qr_has_n_2(cloud: Cloud) -> None:
    reg = cloud.register()
    _seller(cloud, reg)
    receipt = wire_receipt(8, extra={"landing": LANDING})
    receipt["fiscal"]["calculation_type"] = 2
    _post(cloud, reg, receipt)
    text = _text(cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}").text)
    assert "Кассовый чек. Возврат прихода" in text
    assert "t=20261123T1427&s=52.00&fn=9251440300227597&i=8&fp=600000008&n=2" in text


def test_time_with_an_offset_is_shown_on_the_stores_clock(cloud: Cloud) -> None:
    reg = cloud.register()
    _seller(cloud, reg, time_zone="Asia/Vladivostok")
    receipt = wire_receipt(9, extra={"landing": LANDING})
    receipt["fiscal"]["issued_at"] = "2026-11-23T14:27:00+03:00"  # a Moscow-clocked register
    _post(cloud, reg, receipt)
    text = _text(cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}").text)
    assert "23.11.2026 21:27 (Asia/Vladivostok, UTC+10:00)" in text
    assert "t=20261123T2127&s=52.00" in text  # the QR carries the printed (local) time


def test_the_page_with_its_stylesheet_fits_100_kb(cloud: Cloud) -> None:
    reg = cloud.register()
    _seller(cloud, reg)
    receipt = _two_rates(10, extra={"landing": LANDING})
    _post(cloud, reg, receipt)
    page = cloud.http.get(f"/r/c/{reg.register_id}/{LANDING}")
    css = cloud.http.get("/static/receipt.css")
    assert css.status_code == 200
    assert "@media print" in css.text  # the print view
    assert len(page.content) + len(css.content) <= 100_000


def test_message_link_shows_the_receipt_and_unknown_tokens_are_404(cloud: Cloud) -> None:
    reg = cloud.register()
    receipt = wire_receipt(2, contact={"kind": "phone", "value": "79161234567"})
    _post(cloud, reg, receipt)
    cloud.run_jobs()
    with cloud.session() as s:
        token = s.execute(sa.select(DeliveryRow)).scalar_one().link_token
    page = cloud.http.get(f"/r/{token}")
    assert page.status_code == 200
    assert "ФН 9251440300227597 ФД 2 ФПД 600000002" in _text(page.text)
    assert "Место расчётов: Tverskaya 7" in _text(page.text)  # unset settings fall back to the store's name
    assert cloud.http.get("/r/" + "x" * 20).status_code == 404
    assert cloud.http.get("/r/short").status_code == 404
