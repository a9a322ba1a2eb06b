"""The legal part of the page is rendered once per receipt and kept (`cloud.pages.legal_part`): the page is
byte for byte what rendering every block gives, and a change of what the legal blocks print (the seller's
details, the receipt block's note) shows on the next fetch."""

import re
from datetime import UTC, datetime

from cloud.accounts import tenants
from cloud.accounts.models import Store, Tenant
from cloud.pages import legal_part
from cloud.pages.blocks import LEGAL, Block, BlockType, default_template, resolve
from cloud.pages.blocks_render import PageContext, render_legal_block, render_page
from cloud.pages.receipt_view import receipt_view
from cloud.pages.segments import Audience
from sync.protocol import batch_path, receipt_from_wire
from tests.cloud.conftest import Cloud
from tests.cloud.test_page_blocks import _publish
from tests.support.receipts import wire_receipt


def _legal_html(page: str) -> str:
    """The receipt, totals and QR sections of a page."""
    return "".join(re.findall(r'<section class="block block-(?:receipt|totals|qr)".*?</section>', page, re.S))


def test_the_page_with_its_legal_blocks_rendered_apart_is_the_same_bytes() -> None:
    tenant = Tenant(id=1, name="Acme", legal_name='ООО "Акме" <b>', inn="7707083893", taxation="osn")
    store = Store(id=1, tenant_id=1, name="Тверская", address="г. Москва, ул. Тверская, 7")
    view = receipt_view(receipt_from_wire(wire_receipt(7)), tenant, store)
    template = default_template()
    shown = resolve(template, Audience(total=view.total, has_contact=True), 7).shown
    ctx = PageContext(
        receipt_id=7,
        page_path="/r/abc",
        click_url=lambda _b, url: url,
        form_token=lambda b: f"token-{b}",
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    whole = render_page(view, shown, ctx)
    legal = {s.block.id: render_legal_block(view, s) for s in shown if s.block.type in LEGAL}
    assert set(legal) == {"receipt", "totals", "qr"}
    assert render_page(view, shown, ctx, legal) == whole
    assert "&lt;b&gt;" in whole  # the seller's name escaped in the fragment as in the page


def test_a_receipts_legal_part_is_kept_and_follows_the_sellers_details(cloud: Cloud) -> None:
    reg = cloud.register()
    receipt = wire_receipt(1, extra={"landing": "landing-token-0001"})
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.json()["accepted"][0]["status"] == "stored"
    path = f"/r/c/{reg.register_id}/landing-token-0001"
    legal_part.clear()
    first = cloud.http.get(path)
    again = cloud.http.get(path)
    assert first.status_code == again.status_code == 200
    assert _legal_html(first.text) == _legal_html(again.text) != ""

    with cloud.session() as s:
        tenants.set_tenant_details(s, reg.tenant_id, legal_name='ООО "Новое имя"', inn="500100732259")
        tenants.set_store_details(s, reg.store_id, address="г. Казань, ул. Баумана, 1")
    changed = cloud.http.get(path).text
    assert "Новое имя" in changed
    assert "ИНН 500100732259" in changed
    assert "г. Казань, ул. Баумана, 1" in changed

    template = default_template()
    blocks = [
        b.model_copy(update={"settings": {"note": "Спасибо за покупку!"}})
        if b.type is BlockType.RECEIPT
        else b
        for b in template.blocks
    ]
    _publish(
        cloud,
        reg.tenant_id,
        template.model_copy(update={"blocks": [Block.model_validate(b) for b in blocks]}),
    )
    assert "Спасибо за покупку!" in cloud.http.get(path).text
