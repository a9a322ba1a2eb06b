"""The e-receipt's template on the served page: blocks wrapped and in order, segments personalised from the
current profile when the page opens, versions published and rolled back, the buyer's forms (POST only, with
the page's signed token) stored with their consent, holdouts recorded, the promo code with its countdown."""

import random
import re
from typing import Any

import sqlalchemy as sa

from cloud.accounts import tenants
from cloud.accounts.models import AuditEntry
from cloud.delivery.models import PushDevice
from cloud.ingest.models import ReceiptRow
from cloud.pages import versions
from cloud.pages.audience import audience_for
from cloud.pages.blocks import Block, BlockType, Rule, Template, default_template, resolve
from cloud.pages.holdout import block_lifts
from cloud.pages.models import PageAnswer, PageExposure
from cloud.pages.page import record_exposures
from cloud.pages.promo import service as promo
from cloud.pages.promo.rules import Rule as PromoRule
from cloud.pages.segments import Condition
from cloud.privacy.consent import Purpose, Source, record_consent
from cloud.privacy.models import ConsentRecord, ConsentText
from cloud.tracking.events import EventType
from cloud.tracking.store import events_where
from receipts.contact import BuyerContact, ContactKind
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered, now_utc
from tests.support.receipts import wire_receipt

PHONE = {"kind": "phone", "value": "79161234567"}


def _post(cloud: Cloud, reg: Registered, fd: int, contact: dict[str, str] | None = PHONE, **kw: Any) -> str:
    receipt = wire_receipt(fd, contact=contact, extra={"landing": f"landing-token-{fd:04d}"}, **kw)
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.json()["accepted"][0]["status"] == "stored", stored.text
    return f"/r/c/{reg.register_id}/landing-token-{fd:04d}"


def _publish(cloud: Cloud, tenant_id: int, template: Template, actor: str = "admin@shop.example") -> int:
    with cloud.session() as s:
        row = versions.save(s, tenant_id, template, actor=actor, note="test")
        assert row.id is not None
        versions.publish(s, tenant_id, row.id, actor=actor)
        return row.id


def _sections(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<section class="block block-([a-z_]+)" data-block="([^"]+)"', html)


def _form(html: str, block_id: str) -> dict[str, str]:
    section = html.split(f'data-block="{block_id}"', 1)[1].split("</section>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', section))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_default_template_wraps_every_block_and_keeps_the_legal_page(cloud: Cloud) -> None:
    reg = cloud.register()
    page = cloud.http.get(_post(cloud, reg, 1))
    assert page.status_code == 200
    assert _sections(page.text) == [
        ("styles", "styles"),
        ("receipt", "receipt"),
        ("totals", "totals"),
        ("qr", "qr"),
        ("loyalty", "loyalty"),
        ("enrichment", "profile"),
        ("survey", "survey"),
        ("footer", "footer"),
    ]
    assert "Кассовый чек. Приход" in page.text
    assert "ФПД" in page.text
    assert "img-src 'self' data: https:" in page.headers["content-security-policy"]
    assert 'href="/r/style.css?a=1f3b57' in page.text
    css = cloud.http.get("/r/style.css?a=1f3b57&b=f3f3f3&t=111111&f=system")
    assert css.status_code == 200
    assert "background:#f3f3f3" in css.text
    assert cloud.http.get("/r/style.css?a=x;}body{&b=f3f3f3&t=111111").status_code == 422


def test_segments_personalise_the_page_from_the_current_profile(cloud: Cloud) -> None:
    tenant = cloud.tenant()
    spb = cloud.store(tenant[0], "Невский 1", region="Санкт-Петербург")
    reg = cloud.register(tenant, spb)
    banner = Block(
        id="banner",
        type=BlockType.BANNER,
        settings={"headline": "Для всех", "link": "https://shop.example/sale"},
        rules=[
            Rule(when=Condition(app=True), settings={"headline": "В приложении дешевле"}),
            Rule(
                when=Condition(regions=["Санкт-Петербург"], total_over=10_000_00),
                settings={"headline": "Питер VIP"},
            ),
            Rule(when=Condition(regions=["Санкт-Петербург"]), settings={"headline": "Привет, Питер"}),
        ],
    )
    template = Template(blocks=[*default_template().blocks, banner], categories={"кофе": ["кофе"]})
    _publish(cloud, reg.tenant_id, template)
    small = cloud.http.get(_post(cloud, reg, 2)).text
    assert "Привет, Питер" in small
    big_items = [
        {"name": "Кофемашина", "price": 1_500_000, "quantity": "1", "total": 1_500_000, "vat": "vat20"}
    ]
    big = cloud.http.get(
        _post(
            cloud, reg, 3, items=big_items, total=1_500_000, payments=[{"kind": "card", "amount": 1_500_000}]
        )
    ).text
    assert "Питер VIP" in big
    # The outbound link goes through the click redirect with the block named in its ec_click id.
    link = re.search(r'<a class="button" href="([^"]+)"', big)
    assert link is not None
    assert link.group(1).startswith("/c/")
    assert "shop.example" in link.group(1)
    # The page is personalised when it is opened: the buyer installs the app, the same page changes.
    with cloud.session() as s:
        s.add(
            PushDevice(
                tenant_id=reg.tenant_id,
                contact_hash=cloud.keys.hash("79161234567"),
                token="t" * 40,
                created_at=now_utc(),
            )
        )
        s.commit()
    assert "В приложении дешевле" in cloud.http.get(_post(cloud, reg, 4)).text


def test_loyalty_sign_up_is_a_post_with_the_pages_token_and_stores_its_consent(cloud: Cloud) -> None:
    reg = cloud.register()
    with cloud.session() as s:
        tenants.set_tenant_details(
            s, reg.tenant_id, legal_name='ООО "Ромашка"', inn="7707083893", taxation="osn"
        )
    path = _post(cloud, reg, 5)
    page = cloud.http.get(path).text
    assert "Нажимая кнопку, я соглашаюсь" in page
    assert "ООО &#34;Ромашка&#34;" in page
    form = _form(page, "loyalty")
    assert form["back"] == path
    assert form["r"]
    assert len(form["t"]) == 32
    # A GET changes nothing; a forged or missing token is refused.
    assert cloud.http.get("/r/act", params=form).status_code in (404, 405)
    forged = {**form, "t": "0" * 32, "action": "signup"}
    assert cloud.http.post("/r/act", data=forged).status_code == 403
    other_block = {**form, "b": "survey", "action": "signup"}
    assert cloud.http.post("/r/act", data=other_block).status_code == 403  # the token names its block
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PageAnswer)).scalar_one() == 0
    answer = cloud.http.post("/r/act", data={**form, "action": "signup"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{path}#b-loyalty"
    assert cloud.http.post("/r/act", data={**form, "action": "signup"}).status_code == 303  # a double tap
    with cloud.session() as s:
        rows = s.execute(sa.select(PageAnswer)).scalars().all()
        assert [(r.kind, r.field) for r in rows] == [("loyalty", "signup")]
        consent = s.get(ConsentRecord, rows[0].consent_id)
        assert consent is not None
        assert consent.purpose == "loyalty"
        assert consent.granted
        assert consent.source == "page"
        text = s.get(ConsentText, consent.text_id)
        assert text is not None
        assert text.version.startswith("1.")
        assert 'ООО "Ромашка"' in text.text
    with cloud.session() as s:
        (signup,) = events_where(s, reg.tenant_id, receipt_id=rows[0].receipt_id, types=[EventType.SIGNUP])
    assert signup.type is EventType.SIGNUP
    assert signup.block_id == "loyalty"
    assert [i.hash for i in signup.identifiers] == [cloud.keys.hash("79161234567")]
    after = cloud.http.get(path).text
    assert "Вы участник программы лояльности." in after
    # A member's next receipt no longer offers the sign-up (the default rule hides it).
    assert 'data-block="loyalty"' not in cloud.http.get(_post(cloud, reg, 6)).text


def test_profile_questions_follow_the_contacts_receipts_and_the_survey_takes_a_rating(cloud: Cloud) -> None:
    reg = cloud.register()
    first = _post(cloud, reg, 7)
    page = cloud.http.get(first).text
    assert 'type="email"' in page
    assert 'type="date"' not in page
    form = _form(page, "profile")
    bad = cloud.http.post("/r/act", data={**form, "action": "email", "value": "not-an-email"})
    assert bad.status_code == 422
    assert "e-mail" in bad.text
    assert first in bad.text
    ok = cloud.http.post("/r/act", data={**form, "action": "email", "value": " Maria@Example.RU "})
    assert ok.status_code == 303
    second = cloud.http.get(_post(cloud, reg, 8)).text
    assert 'type="date"' in second  # the 2nd receipt asks the birthday
    survey = _form(second, "survey")
    assert cloud.http.post("/r/act", data={**survey, "action": "rating", "value": "9"}).status_code == 422
    rated = cloud.http.post("/r/act", data={**survey, "action": "rating", "value": "4", "comment": "Быстро"})
    assert rated.status_code == 303
    with cloud.session() as s:
        rows = s.execute(sa.select(PageAnswer).order_by(PageAnswer.id)).scalars().all()  # type: ignore[arg-type]
        assert [(r.field, r.value, r.comment) for r in rows] == [
            ("email", "maria@example.ru", ""),
            ("rating", "4", "Быстро"),
        ]
        assert rows[0].consent_id is not None
        assert rows[1].consent_id is None
    assert 'type="date"' not in _text(cloud.http.get(_post(cloud, reg, 9, contact=None)).text)  # no contact


def test_versions_are_immutable_publish_moves_the_pointer_and_rollback_moves_it_back(cloud: Cloud) -> None:
    reg = cloud.register()
    path = _post(cloud, reg, 10)
    footer = default_template().blocks[-1]
    one = Template(
        blocks=[
            *default_template().blocks[:-1],
            footer.model_copy(update={"settings": {"text": "Версия один"}}),
        ]
    )
    two = Template(
        blocks=[
            *default_template().blocks[:-1],
            footer.model_copy(update={"settings": {"text": "<script>alert(1)</script> два"}}),
        ]
    )
    v1 = _publish(cloud, reg.tenant_id, one)
    assert "Версия один" in cloud.http.get(path).text
    v2 = _publish(cloud, reg.tenant_id, two)
    page = cloud.http.get(path).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; два" in page
    assert "<script>alert" not in page
    with cloud.session() as s:
        pointer = versions.rollback(s, reg.tenant_id, actor="admin@shop.example")
        assert (pointer.version_id, pointer.previous_id) == (v1, v2)
        assert versions.version(s, reg.tenant_id, v2).body["blocks"][-1]["settings"]["text"].endswith("два")
        actions = s.execute(sa.select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()  # type: ignore[arg-type]
        assert [a for a in actions if a.startswith("page_template")] == [
            "page_template.saved",
            "page_template.published",
            "page_template.saved",
            "page_template.published",
            "page_template.rolled_back",
        ]
    assert "Версия один" in cloud.http.get(path).text


def test_a_held_out_receipt_gets_the_page_without_the_block_and_is_recorded(cloud: Cloud) -> None:
    reg = cloud.register()
    blocks = [
        b.model_copy(update={"holdout": 0.5}) if b.id == "survey" else b for b in default_template().blocks
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    seen = {}
    for fd in range(20, 32):
        path = _post(cloud, reg, fd)
        html = cloud.http.get(path).text
        seen[fd] = 'data-block="survey"' in html
        assert ('data-block="survey"' in cloud.http.get(path).text) is seen[fd]
    assert any(seen.values())
    assert not all(seen.values())
    with cloud.session() as s:
        rows = s.execute(sa.select(PageExposure)).scalars().all()
    assert len(rows) == 12  # once per receipt, however often it is opened
    assert sum(r.held_out for r in rows) == sum(not v for v in seen.values())


def test_the_promo_block_shows_the_code_and_a_countdown(cloud: Cloud) -> None:
    reg = cloud.register()
    with cloud.session() as s:
        promo.save_rule(
            s,
            reg.tenant_id,
            PromoRule(name="next10", percent=10, valid_days=14),
            actor="test",
            now=now_utc(),
        )
    blocks = [
        *default_template().blocks,
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "next10"}),
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    path = _post(cloud, reg, 40)
    page = cloud.http.get(path).text
    code = re.search(r'<p class="promo-code"><code>([^<]+)</code>', page)
    assert code is not None
    assert re.search(
        r"Действует ещё <span class=\"countdown\" data-until=\"[^\"]+\">1[34] д \d\d:\d\d:\d\d</span>", page
    )
    assert '<script src="/static/countdown.js" defer></script>' in page
    assert code.group(1) in cloud.http.get(path).text  # the same code on every open
    assert cloud.http.get("/static/countdown.js").status_code == 200


def test_a_50_percent_holdout_with_a_simulated_effect_shows_the_lift_within_its_interval(
    cloud: Cloud,
) -> None:
    """400 buyers; the block is drawn for half of them. Shown buyers come back with p = 0.30 and join the
    programme with p = 0.15, held-out ones with 0.15 and 0.05. The service must count exactly what was
    simulated, and the true effects lie inside the 99 % intervals (one fixed draw; the 95 % coverage over
    many draws is tested in test_page_template_model)."""

    reg = cloud.register()
    blocks = [
        b.model_copy(update={"holdout": 0.5}) if b.id == "survey" else b for b in default_template().blocks
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    n = 400
    phones = [f"7916{i:07d}" for i in range(n)]
    first = [wire_receipt(1000 + i, contact={"kind": "phone", "value": p}) for i, p in enumerate(phones)]
    for i in range(0, n, 200):
        cloud.http.post(
            batch_path(reg.store_id), json={"receipts": first[i : i + 200]}, headers=reg.auth
        ).raise_for_status()
    rng = random.Random(13)
    keys = cloud.keys
    effect = {False: (0.30, 0.15), True: (0.15, 0.05)}  # held_out → (repeat, sign-up) probabilities
    repeats = []
    simulated = {True: [0, 0, 0], False: [0, 0, 0]}  # held_out → [receipts, came back, signed up]
    with cloud.session() as s:
        template = versions.published(s, reg.tenant_id).template
        for row in s.execute(sa.select(ReceiptRow).order_by(ReceiptRow.id)).scalars().all():  # type: ignore[arg-type]
            resolution = resolve(template, audience_for(s, row), row.id)
            record_exposures(s, row, resolution.held_out, resolution.exposed, now_utc())
            held = "survey" in resolution.held_out
            p_repeat, p_signup = effect[held]
            phone = phones[row.fd_number - 1000]
            simulated[held][0] += 1
            if rng.random() < p_repeat:
                simulated[held][1] += 1
                repeats.append(wire_receipt(5000 + len(repeats), contact={"kind": "phone", "value": phone}))
            if rng.random() < p_signup:
                simulated[held][2] += 1
                record_consent(
                    s,
                    keys,
                    tenant_id=reg.tenant_id,
                    contact=BuyerContact(ContactKind.PHONE, phone),
                    purpose=Purpose.LOYALTY,
                    granted=True,
                    text="Согласие",
                    text_version="1",
                    source=Source.TILL,
                    now=now_utc(),
                )
        s.commit()
    cloud.http.post(batch_path(reg.store_id), json={"receipts": repeats}, headers=reg.auth).raise_for_status()
    with cloud.session() as s:
        (lift,) = block_lifts(s, reg.tenant_id, ["survey"], confidence=0.99)
    assert (lift.shown, lift.held_out) == (simulated[False][0], simulated[True][0])
    assert 0.4 < lift.held_out / n < 0.6
    assert lift.repeats is not None
    assert lift.signups is not None
    assert round(lift.repeats.treated * lift.shown) == simulated[False][1]
    assert round(lift.repeats.holdout * lift.held_out) == simulated[True][1]
    assert round(lift.signups.treated * lift.shown) == simulated[False][2]
    assert round(lift.signups.holdout * lift.held_out) == simulated[True][2]
    assert lift.repeats.covers(0.30 - 0.15), lift.repeats
    assert lift.signups.covers(0.15 - 0.05), lift.signups
    assert lift.repeats.ci_low > 0  # 200 per group are enough to see a 15-point effect


def test_answers_are_exported_for_the_crm_with_the_contact_only_where_consented(cloud: Cloud) -> None:
    reg = cloud.register()
    path = _post(cloud, reg, 60)
    page = cloud.http.get(path).text
    cloud.http.post("/r/act", data={**_form(page, "loyalty"), "action": "signup"})
    cloud.http.post(
        "/r/act", data={**_form(page, "survey"), "action": "rating", "value": "5", "comment": "Ок"}
    )
    export = cloud.http.get("/v1/pages/answers.csv", headers=reg.tenant_auth)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert lines[0] == "at,receipt_id,store_id,block_id,kind,field,value,comment,contact,consent_id"
    assert ",loyalty,loyalty,signup,,,79161234567," in lines[1]
    assert lines[2].endswith(",survey,survey,rating,5,Ок,,")
    assert cloud.http.get("/v1/pages/answers.csv").status_code == 401
    later = cloud.http.get(
        "/v1/pages/answers.csv", params={"since": "2100-01-01T00:00:00Z"}, headers=reg.tenant_auth
    )
    assert later.text.strip().splitlines() == [lines[0]]


def test_a_delayed_promo_code_says_when_it_starts(cloud: Cloud) -> None:
    reg = cloud.register()
    with cloud.session() as s:
        promo.save_rule(
            s,
            reg.tenant_id,
            PromoRule(name="later", percent=5, valid_days=7, start_delay_h=48),
            actor="test",
            now=now_utc(),
        )
    blocks = [
        *default_template().blocks,
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "later"}),
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    page = cloud.http.get(_post(cloud, reg, 70)).text
    assert re.search(
        r'Начнёт действовать через <span class="countdown" data-until="[^"]+">(1 д 23|2 д 00):\d\d:\d\d<',
        page,
    )
    assert "Действует ещё" not in page
    unknown = [
        *default_template().blocks,
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "nosuch"}),
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=unknown))
    assert 'data-block="promo"' not in cloud.http.get(_post(cloud, reg, 71)).text  # no code, no block
