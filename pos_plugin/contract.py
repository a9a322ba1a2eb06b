"""The checkout API's contract: request/response models, the port the agent implements, its errors.

The router in `pos_plugin.api` speaks HTTP; whoever serves it (the agent) implements `CheckoutPort`.
"""

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from receipts import FiscalData, Item, Payment
from receipts.examples import REFERENCE_SALE


class CheckoutNotFound(LookupError):
    """No checkout with that id (never opened, or forgotten long after it ended)."""


class CheckoutConflict(RuntimeError):
    """The call does not fit the checkout's state (close before open, contact after close, ...)."""


class TooManyCheckouts(CheckoutConflict):
    """Too many checkouts are open at once: a new one is refused rather than forgetting a live one."""


class ReceiptNotQueued(RuntimeError):
    """The receipt was printed but could not be written to the outbox (disk full, database error)."""


class CheckoutState(StrEnum):
    OPENED = "opened"
    CONTACT_ASKED = "contact_asked"
    CONTACT_GIVEN = "contact_given"
    CONTACT_SKIPPED = "contact_skipped"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class AskMode(StrEnum):
    CONFIRM = "confirm"  # known card: "…your phone ends in 45-67?"
    ENTER = "enter"  # anonymous buyer: type the phone
    NONE = "none"  # contact already given: nothing to ask


class CashierAnswer(StrEnum):
    """What came of asking the cashier in the agent's own popup (`ask-contact?wait=S`)."""

    KNOWN = "known"  # the contact was already given: nothing was asked
    CONFIRMED = "confirmed"  # the card holder's phone was confirmed
    CONTACT = "contact"  # the cashier typed a phone or e-mail
    SKIPPED = "skipped"  # "no e-receipt"
    TIMED_OUT = "timed_out"  # no UI answered in time: go on without a contact
    WITHDRAWN = "withdrawn"  # the checkout was closed or cancelled meanwhile
    NO_UI = "no_ui"  # no cashier UI is connected to the agent: answered at once, go on without a contact


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenRequest(_Model):
    checkout_id: str | None = Field(
        default=None,
        max_length=64,
        description="The POS's own id; generated when absent.",
        examples=["T3-000125"],
    )
    cashier: str | None = Field(default=None, max_length=128, examples=["Иванова А."])


class CardRequest(_Model):
    card_number: str = Field(min_length=1, max_length=64, examples=["2770000012345"])
    holder_name: str | None = Field(default=None, max_length=128, examples=["Мария"])
    phone: str | None = Field(
        default=None,
        description="The card holder's phone as the loyalty system knows it.",
        examples=["+79161234567"],
    )
    email: str | None = Field(default=None, examples=["maria@example.ru"])


class ContactRequest(_Model):
    contact: str | None = Field(
        default=None,
        description="Phone (any common format) or e-mail; null with skipped=true means 'no e-receipt'.",
        examples=["8 (916) 123-45-67"],
    )
    # Strict: JSON true/false only, as documented (0, 1 or "yes" are refused, not guessed).
    skipped: bool = Field(default=False, strict=True)
    confirm: bool = Field(
        default=False,
        strict=True,
        description="The buyer confirmed the card holder's phone shown in the prompt.",
    )


_INTEGER_FIELDS = frozenset(
    {"fd_number", "fpd", "shift_number", "receipt_number", "calculation_type", "price", "total", "amount"}
)


def _json_type_problem(value: object, where: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if name == "issued_at" and isinstance(item, int | float):
                return f"{where}{name}: write the register's local time as ISO 8601, e.g. 2026-11-23T14:27:00"
            if name in _INTEGER_FIELDS and isinstance(item, float):
                return f"{where}{name}: an integer, not {item!r}"
            problem = _json_type_problem(item, f"{where}{name}.")
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_type_problem(item, f"{where}{index}.")
            if problem:
                return problem
    elif isinstance(value, bool):
        return f"{where.rstrip('.')}: true/false where a number or text belongs"
    return None


class CloseRequest(_Model):
    """The fiscal register's answer for the closed receipt, as the POS got it."""

    fiscal: FiscalData
    items: list[Item] = Field(min_length=1)
    payments: list[Payment] = Field(min_length=1)
    total: int = Field(ge=0, description="Tag 1020, kopecks")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [REFERENCE_SALE]},  # type: ignore[list-item]
    )

    @model_validator(mode="before")
    @classmethod
    def _json_types_as_documented(cls, data: object) -> object:
        # Pydantic's lax mode would read `false` as 0, `55497.0` as 55497 and a number as a Unix time; the
        # document says integers, and a date-time for issued_at. A receipt has no true/false field at all.
        problem = _json_type_problem(data, "")
        if problem:
            raise ValueError(problem)
        return data


class CheckoutView(_Model):
    checkout_id: str
    state: CheckoutState
    opened_at: datetime
    card_number: str | None = None
    contact_masked: str | None = Field(default=None, description="Never the raw contact: '+7 *** ***-45-67'.")


class ContactPrompt(_Model):
    checkout_id: str
    mode: AskMode
    masked_phone: str | None = Field(default=None, examples=["+7 *** ***-45-67"])
    phone_tail: str | None = Field(
        default=None, description="Last four digits as the cashier reads them: '45-67'."
    )
    buyer_name: str | None = None
    answer: CashierAnswer | None = Field(
        default=None,
        description="Only with ?wait: what the cashier answered in the agent's popup. timed_out means no UI "
        "answered within the wait, no_ui (at once) that no cashier UI is connected: close the receipt "
        "without a contact.",
    )
    contact_masked: str | None = Field(default=None, description="Only with ?wait: the contact now set.")


class CloseResult(_Model):
    checkout_id: str
    receipt_key: str = Field(
        description="FN serial:FD number:FPD", examples=["9251440300227597:55497:617635937"]
    )
    fns_qr: str = Field(examples=["t=20200927T1427&s=52.00&fn=9251440300227597&i=55497&fp=617635937&n=1"])
    queued: bool = Field(
        description="True: written to the outbox now; false: it was already there (repeat close)."
    )
    contact_masked: str | None = None


class CheckoutPort(Protocol):
    """What the router needs from the agent. Every method may raise the errors above."""

    def open(self, request: OpenRequest) -> CheckoutView: ...

    def attach_card(self, checkout_id: str, request: CardRequest) -> CheckoutView: ...

    def ask_contact(self, checkout_id: str) -> ContactPrompt: ...

    def ask_cashier(self, checkout_id: str, wait_s: float) -> ContactPrompt:
        """Ask in the agent's own popup and wait at most `wait_s`; the answer is applied to the checkout."""
        ...

    def set_contact(self, checkout_id: str, request: ContactRequest) -> CheckoutView: ...

    def close(self, checkout_id: str, request: CloseRequest) -> CloseResult: ...

    def cancel(self, checkout_id: str) -> CheckoutView: ...

    def get(self, checkout_id: str) -> CheckoutView: ...
