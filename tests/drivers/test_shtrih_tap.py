"""The Shtrih-M tap between a POS script and the register emulator, over real pty pairs."""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.shtrih import commands as c
from drivers.shtrih import legacy as lg
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
        item = c.OperationV2(CalculationType.SALE, Decimal(qty), price, vat=vat, name=name)
        assert c.Answer.decode(pos.execute(item.encode())).ok
    if pos_contact is not None:
        assert c.Answer.decode(pos.execute(c.SendTlv(c.buyer_contact_tlv(pos_contact)).encode())).ok
    close = c.CloseReceiptV2(payments=(0, 60880) + (0,) * 14)
    answer = c.Answer.decode(pos.execute(close.encode())).raise_for_error()
    return c.CloseAnswer.decode(answer.data)


def wait_for_outbox(outbox: Outbox, count: int) -> list[dict[str, Any]]:
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


# -- the legacy command set (0x10, 0x11, 0xFC, 0x8D, 0x80..0x83, 0xFF0C, 0x85) --------------------------
MILK = lg.Sale.with_vat(Decimal(2), 8990, VatRate.VAT10, "Молоко 3,2%")
COFFEE = lg.Sale.with_vat(Decimal(1), 42900, VatRate.VAT20, "Кофе")
TAP_OWN = {0xFF01, 0xFF09, 0xFF0A, 0xFF40}  # what the tap asks the register itself (and 0xFF0C it sends)


def run(pos: LinkClient, request: c.Request) -> c.Answer:
    return c.Answer.decode(pos.execute(request.encode())).raise_for_error()


def sell_legacy(
    pos: LinkClient,
    items: tuple[lg.Registration, ...] = (MILK, COFFEE),
    *,
    open_first: bool = True,
    pos_contact: BuyerContact | None = None,
    payments: tuple[int, int, int, int] = (70000, 0, 0, 0),
    discount: int = 0,
) -> lg.CloseReceiptAnswer:
    """A POS driver of the FFD 1.05 era: polls the state, opens, registers items, closes with 0x85."""
    state = lg.ShortStateAnswer.decode(run(pos, lg.ShortState()).data)
    assert state.mode & 0x0F == lg.MODE_SHIFT_OPEN
    if open_first:
        run(pos, c.OpenReceipt(receipt_type=items[0].receipt_type))
    time.sleep(0.2)  # the cashier scans the goods; meanwhile the popup asks for the contact
    for item in items:
        run(pos, item)
    if pos_contact is not None:
        run(pos, c.SendTlv(c.buyer_contact_tlv(pos_contact)))
    return lg.CloseReceiptAnswer.decode(run(pos, lg.CloseReceipt(payments, discount)).data)


def pos_commands(register: EmulatedRegister, *, pos_sent_tlv: bool = False) -> list[int]:
    """The register's commands without the tap's own: what the POS sent, in order. The tap sends 0xFF0C
    only when the POS did not."""
    own = TAP_OWN if pos_sent_tlv else TAP_OWN | {0xFF0C}
    return [code for code in register.commands if code not in own]


def test_legacy_sale_gets_the_contact_before_0x85_and_queues_fn_fd_fpd(bench: Bench) -> None:
    assert lg.DeviceTypeAnswer.decode(run(bench.pos, lg.DeviceType()).data).name.startswith("ШТРИХ-М")
    full = lg.FullStateAnswer.decode(run(bench.pos, lg.FullState()).data)
    assert full.inn == bench.register.inn_number
    with cashier(bench.service.prompts, PHONE) as answered:
        closed = sell_legacy(bench.pos)
    assert answered, "the cashier was asked"
    assert closed.change == 70000 - (2 * 8990 + 42900)  # the POS got the register's own answer
    doc = bench.register.journal[-1]
    assert doc.buyer_contact == "+79161234567"

    # The tap reads FD/FPD after the POS has its close answer, so the order is checked once it is queued.
    [payload] = wait_for_outbox(bench.outbox, 1)
    codes = bench.register.commands
    assert codes.index(0xFF0C) < codes.index(0x85) < codes.index(0xFF01, codes.index(0x85))
    assert pos_commands(bench.register) == [0xFC, 0x11, 0x10, 0x8D, 0x80, 0x80, 0x85]
    fiscal = payload["fiscal"]
    key = (fiscal["fn_serial"], fiscal["fd_number"], fiscal["fpd"])
    assert key == ("9999078900054321", doc.fd_number, doc.fpd)
    assert fiscal["registration_number"] == "0001234567012345"
    assert payload["total"] == doc.total == 60880
    assert [item["name"] for item in payload["items"]] == ["Молоко 3,2%", "Кофе"]
    assert payload["contact"]["value"] == PHONE


def test_a_receipt_discount_is_spread_over_the_items_to_the_registers_total(bench: Bench) -> None:
    sell_legacy(bench.pos, discount=500)  # 5 % off the whole receipt, as a 2000s POS gives it
    doc = bench.register.journal[-1]
    assert doc.total == 60880 - 3044
    [payload] = wait_for_outbox(bench.outbox, 1)
    assert payload["total"] == doc.total
    assert sum(item["total"] for item in payload["items"]) == doc.total
    assert [item["total"] for item in payload["items"]] == [17081, 40755]  # by weight, to the kopeck


def test_legacy_return_opens_by_itself_and_is_queued_as_a_return(bench: Bench) -> None:
    refund = lg.ReturnSale.with_vat(Decimal(1), 42900, VatRate.VAT20, "Кофе")
    sell_legacy(bench.pos, (refund,), open_first=False, payments=(42900, 0, 0, 0))  # nobody answers the popup
    doc = bench.register.journal[-1]
    assert doc.operation is CalculationType.SALE_RETURN
    assert pos_commands(bench.register) == [0x10, 0x82, 0x85]
    [payload] = wait_for_outbox(bench.outbox, 1)
    assert (payload["fiscal"]["fd_number"], payload["fiscal"]["fpd"]) == (doc.fd_number, doc.fpd)
    assert payload["fiscal"]["calculation_type"] == CalculationType.SALE_RETURN
    assert payload["contact"] is None


def test_legacy_close_leaves_the_contact_the_pos_sent_alone(bench: Bench) -> None:
    contact = BuyerContact(ContactKind.EMAIL, "buyer@example.ru")
    with cashier(bench.service.prompts, PHONE):
        sell_legacy(bench.pos, pos_contact=contact, payments=(0, 60880, 0, 0))
    assert bench.register.commands.count(0xFF0C) == 1
    assert bench.register.journal[-1].buyer_contact == "buyer@example.ru"
    [payload] = wait_for_outbox(bench.outbox, 1)
    assert payload["contact"]["value"] == "buyer@example.ru"
    assert [p["kind"] for p in payload["payments"]] == ["card"]


def test_a_cancel_after_a_printed_legacy_receipt_is_not_a_cancel(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.service")
    sell_legacy(bench.pos)
    run(bench.pos, c.CancelReceipt())  # drivers clear a stuck receipt this way; nothing is open
    sell_legacy(bench.pos, (COFFEE,))  # and the next sale goes on as usual
    rows = wait_for_outbox(bench.outbox, 2)
    assert [row["fiscal"]["fd_number"] for row in rows] == [d.fd_number for d in bench.register.journal]
    bench.tap.core.close()  # every hook call made
    messages = [r.getMessage() for r in caplog.records if r.name == "agent.service"]
    assert messages.count("checkout opened") == 2
    assert "checkout cancelled" not in messages


def test_both_command_sets_in_one_shift(bench: Bench) -> None:
    sell(bench.pos)
    sell_legacy(bench.pos)
    sell(bench.pos)
    rows = wait_for_outbox(bench.outbox, 3)
    journal = bench.register.journal
    assert [(r["fiscal"]["fd_number"], r["fiscal"]["fpd"]) for r in rows] == [
        (d.fd_number, d.fpd) for d in journal
    ]
    assert [r["fiscal"]["receipt_number"] for r in rows] == [1, 2, 3]


def test_a_register_still_printing_after_0x85_is_read_once_it_is_done(bench: Bench) -> None:
    """A real register answers 0x50 ("printing the previous command") for a while after a close: the tap
    keeps asking (those refusals are not failures) and the receipt is queued once the printer is done."""
    bench.register.printing_after_close = 3
    sell_legacy(bench.pos)
    [payload] = wait_for_outbox(bench.outbox, 1)
    doc = bench.register.journal[-1]
    assert (payload["fiscal"]["fd_number"], payload["fiscal"]["fpd"]) == (doc.fd_number, doc.fpd)
    assert bench.register.commands.count(0xFF01) >= 3
