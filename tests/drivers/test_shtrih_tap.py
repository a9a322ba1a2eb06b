"""The Shtrih-M tap between a POS script and the register emulator, over real pty pairs."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.shtrih import commands as c
from drivers.shtrih.emulator import DeviceLink, EmulatedRegister, PtyDevice
from drivers.shtrih.link import LinkClient, LinkTimeouts
from drivers.shtrih.tap import SerialTap, TapSettings
from receipts import BuyerContact, CalculationType, ContactKind, VatRate
from sync.outbox import Outbox
from tests.drivers.support import PtyPair, cashier

PHONE = "79161234567"


@dataclass
class Bench:
    register: EmulatedRegister
    device: DeviceLink
    pos: LinkClient
    service: CheckoutService
    outbox: Outbox
    tap: SerialTap


@pytest.fixture(params=["select", "threads"])
def bench(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bench]:
    """The tap with each relay: one selector thread (POSIX) and a thread per direction (Windows)."""
    register = EmulatedRegister(fn_serial="9999078900054321", registration_number="0001234567012345")
    link = DeviceLink(register)
    device = PtyDevice(link).start()
    pos_end = PtyPair()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    service = CheckoutService(outbox)
    settings = TapSettings(ask_timeout_s=5, close_wait_s=0.5)  # below the POS's own 1 s ACK timeout
    tap = SerialTap(pos_end.path, device.path, CheckoutHook(service), settings, relay=request.param)
    tap.start()
    pos = LinkClient(pos_end, LinkTimeouts(ack_s=1.0, answer_s=5.0, byte_s=0.2, retries=3))
    try:
        yield Bench(register, link, pos, service, outbox, tap)
    finally:
        tap.stop()
        device.stop()
        pos_end.close()
        outbox.close()


def sell(pos: LinkClient, *, pos_contact: BuyerContact | None = None) -> c.CloseAnswer:
    """A POS selling two items the way Shtrih-M's own driver does it."""
    assert c.Answer.decode(pos.execute(c.OpenReceipt(receipt_type=0).encode())).ok
    time.sleep(0.2)  # the cashier scans the goods; meanwhile the popup asks for the contact
    for name, price, qty, vat in (("Молоко 3,2%", 8990, 2, VatRate.VAT10), ("Кофе", 42900, 1, VatRate.VAT20)):
        item = c.OperationV2(CalculationType.SALE, qty, price, vat=vat, name=name)
        assert c.Answer.decode(pos.execute(item.encode())).ok
    if pos_contact is not None:
        assert c.Answer.decode(pos.execute(c.SendTlv(c.buyer_contact_tlv(pos_contact)).encode())).ok
    close = c.CloseReceiptV2(payments=(0, 60880) + (0,) * 14)
    answer = c.Answer.decode(pos.execute(close.encode())).raise_for_error()
    return c.CloseAnswer.decode(answer.data)


def wait_for_outbox(outbox: Outbox, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = outbox.pending(100)
        if len(rows) >= count:
            return [row.payload for row in rows]
        time.sleep(0.02)
    raise AssertionError(f"outbox holds {len(outbox.pending(100))} receipts, expected {count}")


def test_tap_sends_the_contact_before_the_close_and_queues_the_fiscal_data(bench: Bench) -> None:
    with cashier(bench.service.prompts, PHONE) as answered:
        closed = sell(bench.pos)
    assert answered, "the cashier was asked"
    codes = bench.register.commands
    assert codes.index(0xFF0C) < codes.index(0xFF45)
    doc = bench.register.journal[-1]
    assert doc.buyer_contact == "+79161234567"
    assert (doc.fd_number, doc.fpd) == (closed.fd_number, closed.fpd)

    [payload] = wait_for_outbox(bench.outbox, 1)
    fiscal = payload["fiscal"]
    key = (fiscal["fn_serial"], fiscal["fd_number"], fiscal["fpd"])
    assert key == ("9999078900054321", doc.fd_number, doc.fpd)
    assert fiscal["registration_number"] == "0001234567012345"
    assert payload["total"] == 60880
    assert len(payload["items"]) == 2
    assert payload["contact"]["value"] == PHONE


def test_tap_leaves_the_contact_the_pos_sent_alone(bench: Bench) -> None:
    contact = BuyerContact(ContactKind.EMAIL, "buyer@example.ru")
    with cashier(bench.service.prompts, PHONE):
        sell(bench.pos, pos_contact=contact)
    assert bench.register.commands.count(0xFF0C) == 1
    assert bench.register.journal[-1].buyer_contact == "buyer@example.ru"
    [payload] = wait_for_outbox(bench.outbox, 1)
    assert payload["contact"]["value"] == "buyer@example.ru"


def test_no_answer_from_the_cashier_the_receipt_goes_on_without_a_contact(bench: Bench) -> None:
    sell(bench.pos)  # nobody answers the popup
    assert 0xFF0C not in bench.register.commands
    assert bench.register.journal[-1].buyer_contact is None
    [payload] = wait_for_outbox(bench.outbox, 1)
    assert payload["contact"] is None


def test_a_cancelled_receipt_reaches_the_agent_as_cancelled(bench: Bench) -> None:
    assert c.Answer.decode(bench.pos.execute(c.OpenReceipt().encode())).ok
    assert c.Answer.decode(bench.pos.execute(c.CancelReceipt().encode())).ok
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and bench.service.prompts.snapshot()[1]:
        time.sleep(0.02)  # the popup closes itself when the POS cancels
    assert bench.service.prompts.snapshot()[1] == []
    assert bench.register.journal == []
    assert bench.outbox.pending(10) == []
