"""The checkout state machine: pure values, every legal and illegal step."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agent.checkout import Checkout, LoyaltyCard, OutOfOrder, from_record, to_record
from agent.service import CheckoutService
from pos_plugin.contract import AskMode, CheckoutState, CloseRequest, ContactRequest, OpenRequest
from receipts import FiscalData, Item, Payment, Receipt, parse_contact
from sync.outbox import Outbox


def receipt(fd: int = 1) -> Receipt:
    fiscal = FiscalData(
        "9251440300227597", fd, 617635937, "0001633468026797", 1, fd, datetime(2026, 11, 23, 10, 0)
    )
    return Receipt(fiscal, (Item("Хлеб", 5490, Decimal(1), 5490),), (Payment("card", 5490),), 5490)


def opened() -> Checkout:
    return Checkout("c1", datetime.now(UTC))


def test_known_card_is_confirmed_anonymous_types_and_given_contact_asks_nothing() -> None:
    card = LoyaltyCard("2770001", "Мария", parse_contact("+7 916 123 45 67"))
    asked, prompt = opened().attach_card(card).ask()
    assert (asked.state, prompt.mode, prompt.phone_tail, prompt.buyer_name) == (
        CheckoutState.CONTACT_ASKED,
        AskMode.CONFIRM,
        "45-67",
        "Мария",
    )
    confirmed = asked.confirm_card_contact()
    assert confirmed.state is CheckoutState.CONTACT_GIVEN
    assert confirmed.contact == card.contact

    _, anonymous = opened().ask()
    assert anonymous.mode is AskMode.ENTER
    given = opened().give_contact(parse_contact("ivan@mail.ru"))
    assert given.ask()[1].mode is AskMode.NONE


def test_skip_then_change_of_mind_then_close() -> None:
    checkout = opened().ask()[0].give_contact(None)
    assert checkout.state is CheckoutState.CONTACT_SKIPPED
    checkout = checkout.give_contact(parse_contact("9161234567"))
    closed, is_new = checkout.close(receipt())
    assert (closed.state, is_new, closed.receipt_key) == (CheckoutState.CLOSED, True, receipt().key)


def test_repeat_close_with_the_same_fiscal_data_is_harmless_other_data_is_refused() -> None:
    closed, _ = opened().close(receipt())
    again, is_new = closed.close(receipt())
    assert (again, is_new) == (closed, False)
    with pytest.raises(OutOfOrder, match="close it again with other fiscal data"):
        closed.close(receipt(fd=2))


@pytest.mark.parametrize(
    "step",
    [
        lambda c: c.give_contact(parse_contact("9161234567")),
        lambda c: c.ask(),
        lambda c: c.attach_card(LoyaltyCard("1")),
        lambda c: c.cancel(),
    ],
)
def test_nothing_moves_after_close(step) -> None:
    closed, _ = opened().close(receipt())
    with pytest.raises(OutOfOrder, match="is closed"):
        step(closed)


def test_cancelled_checkout_cannot_close_and_cancel_repeats_harmlessly() -> None:
    cancelled = opened().cancel()
    assert cancelled.cancel() == cancelled
    with pytest.raises(OutOfOrder, match="cannot close: checkout c1 is cancelled"):
        cancelled.close(receipt())


def test_confirm_without_a_known_card_is_out_of_order() -> None:
    with pytest.raises(OutOfOrder, match="without a known card"):
        opened().ask()[0].confirm_card_contact()


def test_a_checkout_in_every_state_goes_to_its_record_and_back_unchanged() -> None:
    card = LoyaltyCard("2770001", "Мария", parse_contact("+7 916 123 45 67"))
    asked, _ = opened().attach_card(card).ask()
    states = [
        opened(),
        asked,
        asked.confirm_card_contact(),
        opened().give_contact(None),
        opened().give_contact(parse_contact("ivan@mail.ru")).close(receipt(7))[0],
        opened().cancel(),
    ]
    for checkout in states:
        record = json.loads(json.dumps(to_record(checkout)))  # as stored: JSON text
        assert from_record(record) == checkout


def test_checkouts_survive_a_new_service_on_the_same_outbox(tmp_path: Path) -> None:
    """What a restart does: a new service on the same file takes the open checkouts back and answers a
    repeated close of one that closed before."""
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        first = CheckoutService(box, journal=box)
        closed_id = first.open(OpenRequest()).checkout_id
        first.set_contact(closed_id, ContactRequest(contact="9161234567"))
        answer = first.close(closed_id, _close_request(receipt(1)))
        open_id = first.open(OpenRequest()).checkout_id
        first.set_contact(open_id, ContactRequest(contact="ivan@mail.ru"))

        second = CheckoutService(box, journal=box)
        assert second.get(open_id).state is CheckoutState.CONTACT_GIVEN
        assert second.close(closed_id, _close_request(receipt(1))) == answer.model_copy(
            update={"queued": False}
        )
        assert second.close(open_id, _close_request(receipt(2))).contact_masked is not None
        assert box.stats().pending == 2
        assert box.open_checkouts() == []


def _close_request(r: Receipt) -> CloseRequest:
    return CloseRequest(fiscal=r.fiscal, items=list(r.items), payments=list(r.payments), total=r.total)
