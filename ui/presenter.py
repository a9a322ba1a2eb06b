"""What the cashier's popup shows and what its keys mean, as values: no Qt here.

The widgets in `ui.popup` only draw a `PopupState` and turn keystrokes into calls of the functions below;
everything a test wants to know about a mode (mask, validation, what Enter and Esc do) is decided here.
"""

import re
from dataclasses import dataclass, replace
from enum import StrEnum

import phonenumbers

from agent.local_schemas import AnswerKind, PromptMode, PromptView
from receipts import InvalidContact, normalize_email, normalize_phone

NATIONAL_DIGITS = 10  # +7 and ten digits: the only phones the popup's mask takes
TRUNK_PREFIXES = "78"  # the habitual 8 916 … (and 7 916 …, +7 916 …) before the ten national digits
MASK = "+7 (___) ___-__-__"
_LETTERS = re.compile(r"[^\d\s()+\-.]")


class Mode(StrEnum):
    CONFIRM = "confirm"  # "Телефон оканчивается на 45-67?"
    PHONE = "phone"  # "+7 (___) ___-__-__"
    EMAIL = "email"


class Problem(StrEnum):
    """Why Enter cannot confirm; the popup shows it inline (translated there)."""

    TOO_FEW_DIGITS = "too_few_digits"
    LETTERS = "letters"
    NOT_RUSSIAN = "not_russian"
    INVALID_PHONE = "invalid_phone"
    EMPTY_EMAIL = "empty_email"
    INVALID_EMAIL = "invalid_email"


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    contact: str | None = None  # normalized ('79161234567' or the e-mail), only with CONTACT


@dataclass(frozen=True, slots=True)
class PopupState:
    prompt_id: str
    checkout_id: str
    mode: Mode
    phone_tail: str | None = None  # "45-67" of the card holder, in CONFIRM
    buyer_name: str | None = None
    landing_url: str | None = None
    typed: str = ""  # the digits as typed, a trunk prefix included: at most eleven
    email: str = ""
    problem: Problem | None = None

    @property
    def digits(self) -> str:
        """The national number typed so far (at most ten): the trunk prefix 8 / 7 taken off."""
        return national_digits(self.typed)

    @property
    def can_go_back(self) -> bool:
        """A card holder's phone was offered: phone or e-mail entry can go back to confirming it."""
        return self.mode is not Mode.CONFIRM and self.phone_tail is not None

    @property
    def phone_display(self) -> str:
        return format_mask(self.digits)

    @property
    def can_confirm(self) -> bool:
        if self.mode is Mode.CONFIRM:
            return True
        if self.mode is Mode.PHONE:
            return phone_problem(self.digits) is None
        return email_problem(self.email) is None


def start(prompt: PromptView) -> PopupState:
    mode = Mode.CONFIRM if prompt.mode is PromptMode.CONFIRM and prompt.phone_tail else Mode.PHONE
    return PopupState(
        prompt.prompt_id,
        prompt.checkout_id,
        mode,
        phone_tail=prompt.phone_tail,
        buyer_name=prompt.buyer_name,
        landing_url=prompt.landing_url,
    )


def national_digits(typed: str) -> str:
    """'89161234567' -> '9161234567': a leading 8 or 7 followed by ten digits is that phone.

    Recognised as soon as the 9 of a mobile number follows (no Russian number starts 79 or 89, and +7 7xx
    is Kazakhstan), else when the eleventh digit arrives (8 812 … is St Petersburg; 812 … alone too).
    """
    has_prefix = len(typed) > 1 and typed[0] in TRUNK_PREFIXES
    if has_prefix and (typed[1] == "9" or len(typed) == NATIONAL_DIGITS + 1):
        return typed[1:]
    return typed


def format_mask(digits: str) -> str:
    """'916123' -> '+7 (916) 123-__-__': the typed digits fill the mask's blanks in order."""
    filled = iter(digits[:NATIONAL_DIGITS])
    return "".join(next(filled, "_") if ch == "_" else ch for ch in MASK)


def phone_problem(digits: str) -> Problem | None:
    if len(digits) < NATIONAL_DIGITS:
        return Problem.TOO_FEW_DIGITS
    try:
        normalized = normalize_phone("+7" + digits)
    except InvalidContact:
        return Problem.INVALID_PHONE
    # +7 is shared with Kazakhstan (+7 6xx/7xx): an e-receipt goes to Russian numbers only.
    if phonenumbers.region_code_for_number(phonenumbers.parse("+" + normalized)) != "RU":
        return Problem.NOT_RUSSIAN
    return None


def email_problem(text: str) -> Problem | None:
    if not text.strip():
        return Problem.EMPTY_EMAIL
    try:
        normalize_email(text)
    except InvalidContact:
        return Problem.INVALID_EMAIL
    return None


def type_digit(state: PopupState, digit: str) -> PopupState:
    """A digit from the main keyboard or the numpad; in CONFIRM it starts a new number."""
    if state.mode is Mode.EMAIL:
        return type_text(state, state.email + digit)
    typed = ("" if state.mode is Mode.CONFIRM else state.typed) + digit
    digits = national_digits(typed)
    if len(digits) > NATIONAL_DIGITS or len(typed) > NATIONAL_DIGITS + 1:  # the mask is full
        return replace(state, mode=Mode.PHONE, problem=None)
    problem = phone_problem(digits) if len(digits) == NATIONAL_DIGITS else None  # live, once complete
    return replace(state, mode=Mode.PHONE, typed=typed, problem=problem)


def type_letter(state: PopupState) -> PopupState:
    """A letter typed where only digits go: said inline, nothing typed."""
    if state.mode is Mode.EMAIL:
        return state
    return replace(state, mode=Mode.PHONE, problem=Problem.LETTERS)


def backspace(state: PopupState) -> PopupState:
    if state.mode is Mode.EMAIL:
        return type_text(state, state.email[:-1])
    return replace(state, mode=Mode.PHONE, typed=state.typed[:-1], problem=None)


def type_text(state: PopupState, text: str) -> PopupState:
    """The e-mail field's whole text after an edit."""
    return replace(state, mode=Mode.EMAIL, email=text, problem=None)


def paste(state: PopupState, text: str) -> PopupState:
    """Any spelling: '8 (916) 123-45-67', '+7 916 123 45 67', '9161234567', or an e-mail."""
    text = text.strip()
    if "@" in text:
        return replace(type_text(state, text), problem=email_problem(text))
    if state.mode is Mode.EMAIL:
        return type_text(state, state.email + text)
    if not text:
        return state
    if _LETTERS.search(text):
        return replace(state, mode=Mode.PHONE, problem=Problem.LETTERS)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and not text.startswith("+7"):
        return replace(state, mode=Mode.PHONE, typed="", problem=Problem.NOT_RUSSIAN)
    digits = national_digits(digits)
    if len(digits) > NATIONAL_DIGITS:
        return replace(state, mode=Mode.PHONE, typed="", problem=Problem.INVALID_PHONE)
    problem = phone_problem(digits) if len(digits) == NATIONAL_DIGITS else None
    return replace(state, mode=Mode.PHONE, typed=digits, problem=problem)


def change_number(state: PopupState) -> PopupState:
    """F2. In CONFIRM, 'Другой номер': the card holder's phone is not the one, type another. In phone or
    e-mail entry after that, 'Назад': back to confirming the card holder's phone, the typing dropped."""
    if state.can_go_back:
        return replace(state, mode=Mode.CONFIRM, typed="", email="", problem=None)
    return replace(state, mode=Mode.PHONE, typed="", problem=None)


def toggle_email(state: PopupState) -> PopupState:
    """F3: e-mail instead of a phone, and back."""
    mode = Mode.PHONE if state.mode is Mode.EMAIL else Mode.EMAIL
    return replace(state, mode=mode, problem=None)


def enter(state: PopupState) -> tuple[PopupState, Answer | None]:
    """Enter: an answer to send, or the same popup with the reason it cannot be confirmed."""
    if state.mode is Mode.CONFIRM:
        return state, Answer(AnswerKind.CONFIRMED)
    if state.mode is Mode.PHONE:
        problem = phone_problem(state.digits)
        if problem is None:
            return state, Answer(AnswerKind.CONTACT, normalize_phone("+7" + state.digits))
        return replace(state, problem=problem), None
    problem = email_problem(state.email)
    if problem is None:
        return state, Answer(AnswerKind.CONTACT, normalize_email(state.email))
    return replace(state, problem=problem), None


def escape(_state: PopupState) -> Answer:
    """Esc: the buyer wants no e-receipt."""
    return Answer(AnswerKind.SKIPPED)


def timed_out(_state: PopupState) -> Answer:
    return Answer(AnswerKind.TIMED_OUT)
