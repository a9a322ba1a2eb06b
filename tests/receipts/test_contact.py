import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts import (
    BuyerContact,
    ContactKind,
    InvalidContact,
    hash_identifier,
    normalize_email,
    normalize_phone,
    parse_contact,
)
from receipts import contact as contact_module
from receipts.redact import RedactingFilter, redact


@pytest.mark.parametrize(
    "text",
    [
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "9161234567",
        "79161234567",
        "8-916-123-45-67",
        " 8 916 1234567 ",
    ],
)
def test_the_same_russian_phone_in_every_spelling(text: str) -> None:
    assert normalize_phone(text) == "79161234567"


def test_reference_vectors() -> None:
    email = normalize_email(" John_Smith@Gmail.com ")
    assert email == "john_smith@gmail.com"
    assert hash_identifier(email) == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    phone = normalize_phone("(650)555-1212", region="US")
    assert phone == "16505551212"
    assert hash_identifier(phone) == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert normalize_phone("+1 (650) 555-1212") == "16505551212"


def test_email_keeps_dots_and_tags_and_applies_nfkc() -> None:
    assert normalize_email("Ivan.Petrov+shop@Mail.RU") == "ivan.petrov+shop@mail.ru"
    assert normalize_email("ｉｖａｎ@mail.ru") == "ivan@mail.ru"  # full-width letters, NFKC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("12345", "not a valid phone"),
        ("abc", "only digits"),
        ("8 916 123 45 6x", "only digits"),
        ("+7 000 000 00 00", "not a valid phone"),
        ("8916123456789", "not a valid phone"),
    ],
)
def test_garbage_phones_get_a_clear_error(text: str, reason: str) -> None:
    with pytest.raises(InvalidContact, match=reason):
        normalize_phone(text)


@pytest.mark.parametrize("text", ["", "@", "ivan@", "@mail.ru", "ivan mail.ru", "ivan@@mail.ru", "ivan@mail"])
def test_garbage_emails_get_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidContact):
        normalize_email(text)


def test_contact_masks_and_hides_itself() -> None:
    phone = parse_contact("8 (916) 123-45-67")
    assert phone.kind is ContactKind.PHONE
    assert phone.masked == "+7 *** ***-45-67"
    assert phone.fiscal_value == "+79161234567"
    assert "1234567" not in repr(phone)
    mail = parse_contact(" Maria@Example.RU")
    assert (mail.kind, mail.value, mail.masked) == (ContactKind.EMAIL, "maria@example.ru", "m***@example.ru")
    assert BuyerContact("phone", "9161234567").hashed == hash_identifier("79161234567")


def test_redaction_masks_contacts_but_not_fiscal_numbers() -> None:
    line = "buyer 8 (916) 123-45-67 / maria@example.ru, fn 9251440300227597 fd 55497 fpd 617635937"
    out = redact(line)
    assert "123-45" not in out
    assert "maria@" not in out
    assert "+7 *** ***-45-67" in out
    assert "m***@example.ru" in out
    assert "9251440300227597" in out
    assert "617635937" in out


def test_redacting_filter_covers_message_args_and_extras() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent to %s", ("79161234567",), None)
    record.contact = "ivan@mail.ru"
    RedactingFilter().filter(record)
    assert record.getMessage() == "sent to +7 *** ***-45-67"
    assert record.contact == "i***@mail.ru"


# --- the cheap path for an already-canonical phone must be the full path, answer for answer ---------------


def _full_path(text: str) -> str | InvalidContact:
    try:
        return contact_module._normalize_phone(text, "RU")
    except InvalidContact as exc:
        return exc


def _public(text: str) -> str | InvalidContact:
    try:
        return normalize_phone(text)
    except InvalidContact as exc:
        return exc


def _same(a: str | InvalidContact, b: str | InvalidContact) -> bool:
    if isinstance(a, InvalidContact) or isinstance(b, InvalidContact):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


def _check_cheap_path(text: str) -> None:
    full = _full_path(text)
    assert _same(_public(text), full), text
    if contact_module._already_canonical_ru(text):
        assert full == text, text  # the cheap path only ever says "unchanged" when the full path does
    elif full == text:
        assert text[1] == "0", text  # it declines only a leading-zero national number, to the full path


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
@settings(max_examples=3000, deadline=None)
def test_cheap_path_equals_full_path_for_any_7_and_10_digits(national: str) -> None:
    _check_cheap_path("7" + national)


@given(st.text(alphabet="0123456789+7 ", min_size=0, max_size=14))
@settings(max_examples=500, deadline=None)
def test_cheap_path_equals_full_path_for_near_canonical_text(text: str) -> None:
    _check_cheap_path(text)


def test_cheap_path_equals_full_path_for_every_three_digit_code() -> None:
    # Validity depends on the leading digits of the national number: every code, a few line numbers each.
    for code in range(1000):
        for line in ("0000000", "1234567", "9999999", "5550101"):
            _check_cheap_path(f"7{code:03d}{line}")


def test_redaction_bounds_what_is_logged_and_masks_a_contact_at_the_cut() -> None:
    from receipts.redact import MAX_LOGGED_CHARS

    text = "x" * (MAX_LOGGED_CHARS - 5) + " 8 (916) 123-45-67 " + "y" * 10_000
    out = redact(text)
    assert len(out) <= MAX_LOGGED_CHARS + len("…[cut]")
    assert out.endswith("…[cut]")
    assert "123-45" not in out
    assert "916" not in out
    # The log filter applies the same bound to every string it sees, nested ones included.
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hb", None, None)
    record.fields = {"last_error": "a@b.ru " + "z" * 100_000, "dead_letter": ["k: 79161234567"]}
    RedactingFilter().filter(record)
    fields = record.fields
    assert len(fields["last_error"]) <= MAX_LOGGED_CHARS + 10
    assert fields["last_error"].startswith("a***@b.ru")
    assert fields["dead_letter"] == ["k: +7 *** ***-45-67"]
