"""The checkout state machine: values in, values out, no I/O.

opened → contact_asked → contact_given | contact_skipped → closed; cancelled from any open state.
The agent's checkout service keeps these values and persists the closed receipt; hooks only send events.
"""

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pos_plugin.contract import AskMode, CheckoutConflict, CheckoutState
from receipts import BuyerContact, ContactKind, Receipt, ReceiptKey

OPEN_STATES = frozenset(
    {
        CheckoutState.OPENED,
        CheckoutState.CONTACT_ASKED,
        CheckoutState.CONTACT_GIVEN,
        CheckoutState.CONTACT_SKIPPED,
    }
)


class OutOfOrder(CheckoutConflict):
    def __init__(self, checkout_id: str, state: CheckoutState, action: str) -> None:
        super().__init__(f"cannot {action}: checkout {checkout_id} is {state.value}")
        self.state = state
        self.action = action


@dataclass(frozen=True, slots=True)
class LoyaltyCard:
    number: str
    holder_name: str | None = None
    contact: BuyerContact | None = None  # as the loyalty system knows it


@dataclass(frozen=True, slots=True)
class Prompt:
    mode: AskMode
    contact: BuyerContact | None = None  # the card holder's, for "…ends in 45-67?"
    buyer_name: str | None = None

    @property
    def phone_tail(self) -> str | None:
        if self.contact is None or self.contact.kind is not ContactKind.PHONE:
            return None
        tail = self.contact.value[-4:]
        return f"{tail[:2]}-{tail[2:]}"


@dataclass(frozen=True, slots=True)
class Checkout:
    checkout_id: str
    opened_at: datetime
    state: CheckoutState = CheckoutState.OPENED
    card: LoyaltyCard | None = None
    contact: BuyerContact | None = None
    receipt_key: ReceiptKey | None = None
    # The unguessable part of the e-receipt landing the popup's QR code shows (the checkout id is not:
    # POS software numbers checkouts, and a guessable link would show other buyers' purchases).
    landing_token: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def _require_open(self, action: str) -> None:
        if self.state not in OPEN_STATES:
            raise OutOfOrder(self.checkout_id, self.state, action)

    def attach_card(self, card: LoyaltyCard) -> "Checkout":
        self._require_open("attach a card")
        return replace(self, card=card)

    def ask(self) -> tuple["Checkout", Prompt]:
        """Flow step 2: contact already given → nothing; known card → confirm; anonymous → enter."""
        self._require_open("ask for the contact")
        if self.contact is not None:
            return self, Prompt(AskMode.NONE)
        card = self.card
        if card is not None and card.contact is not None and card.contact.kind is ContactKind.PHONE:
            prompt = Prompt(AskMode.CONFIRM, card.contact, card.holder_name)
        else:
            prompt = Prompt(AskMode.ENTER, None, card.holder_name if card else None)
        return replace(self, state=CheckoutState.CONTACT_ASKED), prompt

    def give_contact(self, contact: BuyerContact | None) -> "Checkout":
        """A contact (confirmed or typed) or None for 'no e-receipt'; may be changed until the close."""
        self._require_open("set the contact")
        state = CheckoutState.CONTACT_GIVEN if contact is not None else CheckoutState.CONTACT_SKIPPED
        return replace(self, state=state, contact=contact)

    def confirm_card_contact(self) -> "Checkout":
        """Enter on "…your phone ends in 45-67?": the card holder's contact becomes the buyer's."""
        self._require_open("confirm the card holder's contact")
        if self.card is None or self.card.contact is None:
            raise OutOfOrder(self.checkout_id, self.state, "confirm a card contact without a known card")
        return self.give_contact(self.card.contact)

    def close(self, receipt: Receipt) -> tuple["Checkout", bool]:
        """Returns (checkout, is_new). Closing again with the same fiscal data is a harmless repeat."""
        if self.state is CheckoutState.CLOSED:
            if receipt.key == self.receipt_key:
                return self, False
            raise OutOfOrder(self.checkout_id, self.state, "close it again with other fiscal data")
        self._require_open("close")
        return replace(self, state=CheckoutState.CLOSED, receipt_key=receipt.key), True

    def cancel(self) -> "Checkout":
        if self.state is CheckoutState.CANCELLED:
            return self
        self._require_open("cancel")
        return replace(self, state=CheckoutState.CANCELLED)


# --- the record kept in the outbox's database (open checkouts survive a restart) ------------------------


def _contact_record(contact: BuyerContact | None) -> dict[str, str] | None:
    return {"kind": contact.kind.value, "value": contact.value} if contact else None


def _contact(data: Any) -> BuyerContact | None:
    return BuyerContact(ContactKind(data["kind"]), str(data["value"])) if data else None


def to_record(checkout: Checkout) -> dict[str, Any]:
    """The checkout as plain JSON values; `from_record` gives the same checkout back."""
    card = checkout.card
    key = checkout.receipt_key
    return {
        "checkout_id": checkout.checkout_id,
        "opened_at": checkout.opened_at.isoformat(),
        "state": checkout.state.value,
        "card": {
            "number": card.number,
            "holder_name": card.holder_name,
            "contact": _contact_record(card.contact),
        }
        if card
        else None,
        "contact": _contact_record(checkout.contact),
        "receipt_key": {"fn_serial": key.fn_serial, "fd_number": key.fd_number, "fpd": key.fpd}
        if key
        else None,
        "landing_token": checkout.landing_token,
    }


def _receipt_key(data: Any) -> ReceiptKey | None:
    return ReceiptKey(str(data["fn_serial"]), int(data["fd_number"]), int(data["fpd"])) if data else None


def from_record(data: dict[str, Any]) -> Checkout:
    card, key = data.get("card"), data.get("receipt_key")
    return Checkout(
        checkout_id=str(data["checkout_id"]),
        opened_at=datetime.fromisoformat(data["opened_at"]),
        state=CheckoutState(data["state"]),
        card=LoyaltyCard(str(card["number"]), card.get("holder_name"), _contact(card.get("contact")))
        if card
        else None,
        contact=_contact(data.get("contact")),
        receipt_key=ReceiptKey(str(key["fn_serial"]), int(key["fd_number"]), int(key["fpd"]))
        if key
        else None,
        landing_token=str(data["landing_token"]),
    )
