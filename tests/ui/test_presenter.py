"""The popup's logic without Qt: mask, validation, what Enter / Esc / F2 / F3 / paste mean."""

import pytest

from agent.local_schemas import AnswerKind, PromptMode, PromptView
from ui import presenter
from ui.presenter import Answer, Mode, PopupState, Problem


def prompt(mode: PromptMode = PromptMode.ENTER, tail: str | None = None) -> PromptView:
    return PromptView(prompt_id="p", checkout_id="c", mode=mode, phone_tail=tail, expires_in_s=30)


def typed(digits: str, state: PopupState | None = None) -> PopupState:
    state = state or presenter.start(prompt())
    for d in digits:
        state = presenter.type_digit(state, d)
    return state


def test_mask_fills_in_order() -> None:
    assert presenter.format_mask("") == "+7 (___) ___-__-__"
    assert presenter.format_mask("916123") == "+7 (916) 123-__-__"
    assert presenter.format_mask("9161234567") == "+7 (916) 123-45-67"


def test_known_card_enter_confirms_and_f2_switches_to_entry() -> None:
    state = presenter.start(prompt(PromptMode.CONFIRM, "45-67"))
    assert state.mode is Mode.CONFIRM
    assert presenter.enter(state)[1] == Answer(AnswerKind.CONFIRMED)
    changed = presenter.change_number(state)
    assert (changed.mode, changed.phone_display) == (Mode.PHONE, "+7 (___) ___-__-__")
    assert typed("9", state).mode is Mode.PHONE  # a digit in CONFIRM starts a new number too


def test_ten_digits_and_enter_give_the_normalized_phone() -> None:
    state = typed("9161234567")
    assert state.can_confirm
    assert presenter.enter(state)[1] == Answer(AnswerKind.CONTACT, "79161234567")
    assert typed("12", state).digits == "9161234567"  # the mask is full: more digits are ignored


@pytest.mark.parametrize(
    ("digits", "problem"),
    [
        ("916123", Problem.TOO_FEW_DIGITS),
        ("7012345678", Problem.NOT_RUSSIAN),  # +7 701: Kazakhstan
        ("0001234567", Problem.INVALID_PHONE),
    ],
)
def test_bad_phones_cannot_be_confirmed(digits: str, problem: Problem) -> None:
    state = typed(digits)
    assert not state.can_confirm
    after, answer = presenter.enter(state)
    assert (after.problem, answer) == (problem, None)


def test_letters_are_refused_inline_and_backspace_clears_the_message() -> None:
    state = presenter.type_letter(typed("916"))
    assert (state.problem, state.digits) == (Problem.LETTERS, "916")
    state = presenter.backspace(state)
    assert (state.problem, state.digits) == (None, "91")


@pytest.mark.parametrize("text", ["8 (916) 123-45-67", "+7 916 123 45 67", "9161234567", "89161234567"])
def test_paste_of_any_spelling_is_normalized(text: str) -> None:
    state = presenter.paste(presenter.start(prompt()), text)
    assert state.digits == "9161234567"
    assert presenter.enter(state)[1] == Answer(AnswerKind.CONTACT, "79161234567")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("+1 650 555 1212", Problem.NOT_RUSSIAN), ("тел 916", Problem.LETTERS), ("916 12", None)],
)
def test_paste_of_bad_input(text: str, problem: Problem | None) -> None:
    state = presenter.paste(presenter.start(prompt()), text)
    assert state.problem is problem
    assert not state.can_confirm


def test_email_alternative() -> None:
    state = presenter.toggle_email(presenter.start(prompt()))
    assert state.mode is Mode.EMAIL
    assert presenter.enter(state)[0].problem is Problem.EMPTY_EMAIL
    state = presenter.type_text(state, "ivan@")
    after, answer = presenter.enter(state)
    assert (after.problem, answer) == (Problem.INVALID_EMAIL, None)
    state = presenter.type_text(state, " Ivan@Mail.RU ")
    assert presenter.enter(state)[1] == Answer(AnswerKind.CONTACT, "ivan@mail.ru")
    assert presenter.paste(presenter.start(prompt()), "a@b.ru").mode is Mode.EMAIL
    assert presenter.toggle_email(state).mode is Mode.PHONE


def test_escape_skips_and_timeout_times_out() -> None:
    state = presenter.start(prompt())
    assert presenter.escape(state) == Answer(AnswerKind.SKIPPED)
    assert presenter.timed_out(state) == Answer(AnswerKind.TIMED_OUT)


@pytest.mark.parametrize(
    ("keys", "national"),
    [
        ("89161234567", "9161234567"),  # the habitual 8 916 123-45-67
        ("79161234567", "9161234567"),
        ("88121234567", "8121234567"),  # 8 and a St Petersburg number: known at the eleventh digit
        ("8121234567", "8121234567"),  # the same number without the 8
        ("9161234567", "9161234567"),
    ],
)
def test_a_leading_8_or_7_before_ten_digits_is_the_trunk_prefix(keys: str, national: str) -> None:
    state = typed(keys)
    assert state.phone_display == presenter.format_mask(national)
    assert presenter.enter(state)[1] == Answer(AnswerKind.CONTACT, "7" + national)


def test_the_prefix_shows_as_soon_as_a_mobile_number_follows() -> None:
    assert typed("8").phone_display == "+7 (8__) ___-__-__"
    assert typed("89").phone_display == "+7 (9__) ___-__-__"
    assert typed("8916123456").phone_display == "+7 (916) 123-45-6_"
    assert typed("891612345678").digits == "9161234567"  # full: a twelfth digit is ignored
    assert presenter.backspace(typed("89")).phone_display == "+7 (8__) ___-__-__"


def test_f2_goes_back_from_entry_to_the_card_holders_phone() -> None:
    state = presenter.start(prompt(PromptMode.CONFIRM, "45-67"))
    entry = typed("916", presenter.change_number(state))
    assert (entry.mode, entry.can_go_back) == (Mode.PHONE, True)
    back = presenter.change_number(entry)
    assert (back.mode, back.digits, back.problem) == (Mode.CONFIRM, "", None)
    assert presenter.enter(back)[1] == Answer(AnswerKind.CONFIRMED)
    email = presenter.toggle_email(entry)
    assert presenter.change_number(email).mode is Mode.CONFIRM
    anonymous = presenter.change_number(typed("916"))  # nothing to go back to: F2 clears the field
    assert (anonymous.mode, anonymous.digits) == (Mode.PHONE, "")
