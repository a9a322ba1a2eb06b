"""`is_valid_plus7` must answer as `phonenumbers.is_valid_number` does, number for number."""

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts.phone_validity import is_valid_plus7


def _library(national: str) -> bool:
    number = phonenumbers.PhoneNumber(country_code=7, national_number=int(national))
    return phonenumbers.is_valid_number(number)


def _check(national: str) -> None:
    assert is_valid_plus7(national) == _library(national), national


def test_every_four_digit_prefix_of_a_ten_digit_number() -> None:
    # The patterns branch on up to six leading digits; four cover every region and number type's start.
    for prefix in range(1000, 10_000):
        for line in ("000000", "123456", "999999", "505050"):
            _check(f"{prefix}{line}")


def test_every_six_digit_prefix_where_the_patterns_branch_deepest() -> None:
    # Russian mobile 9300 0xx and Kazakh fixed lines 71x xx / 72x xx: decided by the fifth and sixth digits.
    for start in ("930", "710", "711", "712", "713", "714", "715", "716", "718", "721", "722", "725", "727"):
        for rest in range(1000):
            for line in ("0000", "4567"):
                _check(f"{start}{rest:03d}{line}")


@given(st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True))
@settings(max_examples=5000, deadline=None)
def test_any_length(national: str) -> None:
    _check(national)


@given(st.integers(min_value=10**9, max_value=10**10 - 1))
@settings(max_examples=5000, deadline=None)
def test_any_ten_digit_number(number: int) -> None:
    _check(str(number))


def test_known_numbers() -> None:
    assert is_valid_plus7("9161234567")  # Russian mobile
    assert is_valid_plus7("4951234567")  # Moscow fixed line
    assert is_valid_plus7("7012345678")  # Kazakh mobile
    assert not is_valid_plus7("0001234567")
    assert not is_valid_plus7("916123456")  # nine digits
