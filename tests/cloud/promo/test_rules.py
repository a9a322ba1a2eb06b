"""The promo rule's checks and the code generator, as plain functions."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cloud.errors import InvalidSetting
from cloud.pages.promo import codes
from cloud.pages.promo.rules import DEFAULT_ALPHABET, Rule, discount_text, minimum_length, validate
from cloud.pages.promo.service import IssuedPromo, seconds_left, starts_in

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_default_alphabet_is_large_and_unambiguous() -> None:
    assert len(DEFAULT_ALPHABET) == 32
    assert not set("0O1I") & set(DEFAULT_ALPHABET)
    assert validate(Rule(name="x", percent=10)).space == 32**10


def test_a_rule_whose_code_space_is_too_small_is_refused_with_the_length_it_needs() -> None:
    with pytest.raises(InvalidSetting, match="нужна длина не меньше 8") as err:
        validate(Rule(name="x", percent=10, length=6, planned_codes=1_000_000))
    assert "32^6" in err.value.detail
    assert minimum_length(32, 1_000_000) == 8  # 32^8 ≈ 1.1e12 ≥ 1e12
    validate(Rule(name="x", percent=10, length=8, planned_codes=1_000_000))
    # a digits-only alphabet for POS keypads needs longer codes
    with pytest.raises(InvalidSetting, match="нужна длина не меньше 14"):
        validate(Rule(name="x", percent=10, alphabet="23456789", length=12, planned_codes=10**6))


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"alphabet": "ABCDEFGH0"}, "недопустимые"),
        ({"alphabet": "ABCDEFGHIJ"}, "недопустимые"),
        ({"alphabet": "AABCDEFGH"}, "повторяются"),
        ({"alphabet": "ABC"}, "не меньше 8"),
        ({"percent": None}, "либо процент"),
        ({"amount": 500}, "либо процент"),
        ({"percent": 0}, "от 1 до 100"),
        ({"valid_days": 0}, "срок действия"),
        ({"remind_before_h": 24 * 30}, "напоминание"),
        ({"name": "a b"}, "название"),
        ({"length": 40}, "длина кода"),
    ],
)
def test_bad_rules_say_what_to_fix(settings: dict[str, object], words: str) -> None:
    values: dict[str, object] = {"name": "x", "percent": 10, **settings}
    with pytest.raises(InvalidSetting, match=words):
        validate(Rule(**values))  # type: ignore[arg-type]


def test_validation_cleans_names_alphabet_and_categories() -> None:
    rule = validate(
        Rule(name=" next ", amount=50000, alphabet="abcdefgh23456789", categories=("Кофе", " Кофе", ""))
    )
    assert (rule.name, rule.alphabet, rule.categories) == ("next", "ABCDEFGH23456789", ("Кофе",))
    assert rule.title() == "−500 ₽ на следующую покупку"


def test_headlines() -> None:
    assert discount_text(10, None) == "−10 % на следующую покупку"
    assert discount_text(None, 150050) == "−1 500,50 ₽ на следующую покупку"
    assert Rule(name="x", percent=5, headline="Кофе в подарок").title() == "Кофе в подарок"


def test_window_and_reminder_time() -> None:
    rule = Rule(name="x", percent=10, valid_days=7, start_delay_h=24, remind_before_h=48)
    starts, expires = rule.window(T0)
    assert (starts, expires) == (T0 + timedelta(days=1), T0 + timedelta(days=8))
    assert rule.remind_at(starts, expires) == T0 + timedelta(days=6)
    assert Rule(name="x", percent=1, valid_days=1, remind_before_h=None).remind_at(starts, expires) is None
    short = Rule(name="x", percent=1, valid_days=1, remind_before_h=23)
    assert short.remind_at(T0, T0 + timedelta(hours=22)) is None  # would fire before the code starts


def test_codes_are_random_and_from_the_alphabet() -> None:
    many = [codes.generate(DEFAULT_ALPHABET, 10) for _ in range(20_000)]
    assert len(set(many)) == len(many)
    assert all(re.fullmatch(f"[{DEFAULT_ALPHABET}]{{10}}", c) for c in many)
    counts = Counter("".join(many))
    assert set(counts) == set(DEFAULT_ALPHABET)
    expected = 200_000 / 32
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values())  # no modulo bias


def test_typed_codes_are_normalized() -> None:
    assert codes.normalize(" abcd-efgh jk ") == "ABCDEFGHJK"


def test_countdown_helpers() -> None:
    promo = IssuedPromo("ABCDEFGHJK", T0 + timedelta(hours=1), T0 + timedelta(days=1), "−10 %")
    assert starts_in(promo, T0) == 3600
    assert seconds_left(promo, T0) == 86400
    assert seconds_left(promo, T0 + timedelta(days=1, seconds=1)) == 0
    assert starts_in(promo, T0 + timedelta(hours=2)) == 0
    assert seconds_left(promo, T0 + timedelta(days=1) - timedelta(milliseconds=1)) == 1  # rounded up
