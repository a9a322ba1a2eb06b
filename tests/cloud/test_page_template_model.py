"""The e-receipt template as data: block settings validated per type, the law's blocks always there, segment
rules in order (first match wins), the holdout draw, the sandbox for the marketer's text. No I/O."""

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cloud.pages.audience import categories_of
from cloud.pages.blocks import Block, BlockType, LoyaltySettings, Rule, Template, default_template, resolve
from cloud.pages.blocks_render import remaining, tenant_text, text_errors
from cloud.pages.holdout import Outcome, lift_of
from cloud.pages.page import states_for
from cloud.pages.segments import Audience, Condition, first_match, held_out

MOSCOW = Audience(region="Москва", total=5_000_00, has_contact=True)
RICH_SPB = Audience(region="Санкт-Петербург", total=12_000_00, loyalty_member=True, has_contact=True)


def _template(*extra: Block) -> Template:
    return Template(blocks=[*default_template().blocks, *extra])


def test_the_default_template_is_the_legal_page_plus_marketing_blocks() -> None:
    kinds = [b.type for b in default_template().blocks]
    for legal in (BlockType.RECEIPT, BlockType.TOTALS, BlockType.QR):
        assert kinds.count(legal) == 1
    assert {BlockType.LOYALTY, BlockType.ENRICHMENT, BlockType.SURVEY} <= set(kinds)


@pytest.mark.parametrize(
    "body",
    [
        {"blocks": [{"id": "receipt", "type": "receipt"}, {"id": "totals", "type": "totals"}]},  # no QR block
        {"blocks": [*default_template().model_dump()["blocks"], {"id": "qr", "type": "footer"}]},  # same id
        {"blocks": [{"id": "x", "type": "carousel"}]},  # not a block type
    ],
)
def test_a_template_without_the_laws_blocks_or_with_unknown_parts_is_refused(body: object) -> None:
    with pytest.raises(ValidationError):
        Template.model_validate(body)


def test_each_blocks_settings_are_validated_by_its_type_and_so_are_rule_overrides() -> None:
    with pytest.raises(ValidationError, match="#RRGGBB"):
        Block(id="styles", type=BlockType.STYLES, settings={"accent": "red"})
    with pytest.raises(ValidationError, match="https://"):
        Block(id="b", type=BlockType.LINK_BANNER, settings={"link": "javascript:alert(1)"})
    with pytest.raises(ValidationError, match="extra"):
        Block(id="b", type=BlockType.FOOTER, settings={"colour": "x"})
    with pytest.raises(ValidationError):
        Block(id="b", type=BlockType.SURVEY, rules=[Rule(when=Condition(), settings={"question": 5})])
    with pytest.raises(ValidationError, match="обязателен по закону"):
        Block(id="qr", type=BlockType.QR, holdout=0.5)
    with pytest.raises(ValidationError, match="обязателен по закону"):
        Block(id="qr", type=BlockType.QR, rules=[Rule(when=Condition(loyalty=True), hidden=True)])


def test_rules_are_ordered_the_first_match_wins_else_the_defaults() -> None:
    block = Block(
        id="banner",
        type=BlockType.BANNER,
        settings={"headline": "Для всех"},
        rules=[
            Rule(
                when=Condition(regions=["Санкт-Петербург"], total_over=10_000_00),
                settings={"headline": "Питер, >10к"},
            ),
            Rule(when=Condition(regions=["Санкт-Петербург"]), settings={"headline": "Питер"}),
            Rule(when=Condition(loyalty=True), hidden=True),
        ],
    )
    headline = {}
    for name, audience in {
        "moscow": MOSCOW,
        "rich_spb": RICH_SPB,
        "spb": Audience(region="санкт-петербург", total=100_00),
    }.items():
        rule = first_match(block.rules, audience)
        headline[name] = block.parsed(rule.settings if rule else None).headline  # type: ignore[attr-defined]
    assert headline == {"moscow": "Для всех", "rich_spb": "Питер, >10к", "spb": "Питер"}
    member_in_moscow = Audience(region="Москва", loyalty_member=True)
    shown = resolve(_template(block), member_in_moscow, receipt_id=1).shown
    assert "banner" not in [s.block.id for s in shown]  # the third rule hides it


def test_every_condition_field() -> None:
    a = Audience(
        region="Москва",
        loyalty_member=False,
        app_installed=True,
        total=10_000_01,
        categories=frozenset({"кофе"}),
        store_id=7,
    )
    assert Condition().matches(a)
    assert Condition(regions=["Москва", "Казань"], app=True, loyalty=False, total_over=10_000_00).matches(a)
    assert Condition(categories=["чай", "кофе"], stores=[7, 8]).matches(a)
    assert not Condition(total_over=10_000_01).matches(a)  # over, not equal
    assert not Condition(app=False).matches(a)
    assert not Condition(loyalty=True).matches(a)
    assert not Condition(stores=[8]).matches(a)
    assert not Condition(categories=["чай"]).matches(a)
    assert not Condition(regions=["Казань"]).matches(a)
    for c in (
        Condition(regions=["Казань"], loyalty=True, total_over=5),
        Condition(categories=["чай"], app=False),
    ):
        assert c.matches(c.sample())  # the editor previews a segment with an audience it matches
    assert categories_of(["Кофе зерновой 250 г", "Молоко"], {"кофе": ["кофе"], "чай": ["чай"]}) == {"кофе"}


def test_the_holdout_is_deterministic_per_receipt_and_block_and_holds_its_share() -> None:
    draws = [held_out(r, "promo", 0.3) for r in range(20_000)]
    assert draws == [held_out(r, "promo", 0.3) for r in range(20_000)]  # every reload the same
    assert 0.28 < sum(draws) / len(draws) < 0.32
    other = [held_out(r, "survey", 0.3) for r in range(20_000)]
    assert draws != other  # blocks are drawn independently
    assert not any(held_out(r, "promo", 0.0) for r in range(1000))
    block = Block(id="survey", type=BlockType.SURVEY, holdout=0.5)
    resolutions = [resolve(_template(block.model_copy(update={"id": "s2"})), MOSCOW, r) for r in range(200)]
    held = [r for r in resolutions if "s2" in r.held_out]
    assert held
    assert all("s2" not in [s.block.id for s in r.shown] for r in held)
    assert all("s2" in r.exposed for r in resolutions if r not in held)
    assert (
        "s2" not in resolve(_template(block.model_copy(update={"id": "s2"})), MOSCOW, None).held_out
    )  # preview


def test_a_marketers_script_tag_shows_as_text_and_variables_work() -> None:
    html = tenant_text(
        "<script>alert(1)</script> Спасибо, {{ seller }}! {{ total | rubles }} ₽",
        {"seller": "<b>Ромашка</b>", "total": 12345},
    )
    assert "<script>" not in html
    assert "<b>" not in html
    assert html == "&lt;script&gt;alert(1)&lt;/script&gt; Спасибо, &lt;b&gt;Ромашка&lt;/b&gt;! 123.45 ₽"
    assert (
        tenant_text("{{ ''.__class__.__mro__ }}", {}) == "{{ &#39;&#39;.__class__.__mro__ }}"
    )  # shown as typed
    bad = _template(Block(id="footer-2", type=BlockType.FOOTER, settings={"text": "{{ nosuch }} {% for %}"}))
    assert text_errors(bad, {"seller": "x", "store": "", "total": 0, "address": "", "number": 1})


def test_marketing_block_states() -> None:
    template = _template(
        Block(
            id="recs",
            type=BlockType.RECOMMENDATIONS,
            settings={
                "rules": [{"category": "кофе", "title": "Турка -20%"}, {"category": "чай", "title": "Чайник"}]
            },
        )
    )
    audience = Audience(region="Москва", has_contact=True, receipt_number=2, categories=frozenset({"кофе"}))
    shown = resolve(template, audience, None).shown
    states = states_for(shown, audience, answered_here=set(), profile={"email"}, promos={})
    assert states["profile"].question is not None
    assert states["profile"].question.value == "birthday"
    assert not states["loyalty"].done
    assert not states["loyalty"].hide
    assert [p.title for p in states["recs"].picks] == ["Турка -20%"]
    first = Audience(has_contact=True, receipt_number=1)
    states = states_for(shown, first, answered_here={("survey", "rating")}, profile={"email"}, promos={})
    assert states["profile"].hide  # the 1st receipt asks only the e-mail, which is known
    assert states["survey"].done
    anonymous = Audience(has_contact=False)
    assert states_for(shown, anonymous, answered_here=set(), profile=set(), promos={})["loyalty"].hide
    assert LoyaltySettings().consent_version == "1"


def test_the_countdown_text() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert remaining(datetime(2026, 12, 3, 15, 4, 5, tzinfo=UTC), now) == "2 д 03:04:05"
    assert remaining(datetime(2026, 12, 1, 12, 0, 9, tzinfo=UTC), now) == "00:00:09"
    assert remaining(datetime(2026, 11, 1, tzinfo=UTC), now) == "00:00:00"


def test_the_holdout_lift_interval_covers_the_true_effect_95_percent_of_the_time() -> None:
    """300 simulated experiments of 400 receipts with a 50 % holdout (the real draw) and a true effect of
    +10 points on repeat purchases: the 95 % interval holds the true effect in about 95 % of them."""
    rng = random.Random(2026)
    covered = 0
    runs = 300
    for run in range(runs):
        outcomes = []
        for receipt_id in range(run * 400, run * 400 + 400):
            held = held_out(receipt_id, "promo", 0.5)
            outcomes.append(
                Outcome(
                    held, rng.random() < (0.05 if held else 0.10), rng.random() < (0.20 if held else 0.30)
                )
            )
        lift = lift_of("promo", outcomes)
        assert lift.repeats is not None
        assert lift.signups is not None
        covered += lift.repeats.covers(0.10)
    assert 0.91 <= covered / runs <= 0.99
