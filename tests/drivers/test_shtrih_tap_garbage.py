"""Whatever crosses the line, the tap relays every byte in order and never raises.

Drives `TapCore` in-process (the relay logic without threads) with hypothesis-generated chunks from both
sides: random bytes mixed with real frames of both command sets (opening a receipt, items, the device's
OK, closes that open the tap's windows with a silent device, bad LRCs, cut frames); then real POS
sessions of both command sets, cut into random chunks, against the register emulator; then the read after
a legacy close when the POS never acknowledges it, or the register stays silent.
"""

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.shtrih import commands as c
from drivers.shtrih import legacy as lg
from drivers.shtrih.emulator import DeviceLink, EmulatedRegister
from drivers.shtrih.link import Frame, LinkParser, LinkTimeouts, encode_frame
from drivers.shtrih.tap import TapCore, TapSettings
from receipts import BuyerContact, CalculationType, ContactKind, VatRate
from sync.outbox import Outbox
from tests.drivers.support import cashier

FAST = TapSettings(
    ask_timeout_s=0.01,
    close_wait_s=0.0,
    hold_timeout_s=0.0,
    link=LinkTimeouts(ack_s=0.001, answer_s=0.001, byte_s=0.001, retries=1),
)
OPEN = encode_frame(c.OpenReceipt().encode())
OPEN_OK = encode_frame(c.Answer(0x8D, 0, b"\x1e").encode())
CLOSE = encode_frame(c.CloseReceiptV2(payments=(10000,) + (0,) * 15).encode())
SALE = encode_frame(lg.Sale(Decimal(1), 10000, text="Хлеб").encode())
SALE_OK = encode_frame(c.Answer(0x80, 0, b"\x1e").encode())
RETURN = encode_frame(lg.ReturnSale(Decimal(1), 10000).encode())
CLOSE_LEGACY = encode_frame(lg.CloseReceipt((10000, 0, 0, 0)).encode())
CLOSE_LEGACY_OK = encode_frame(c.Answer(0x85, 0, lg.CloseReceiptAnswer(30, 0).encode()).encode())
TLV = encode_frame(c.SendTlv(c.buyer_contact_tlv(BuyerContact(ContactKind.PHONE, "+79161234567"))).encode())
CANCEL = encode_frame(c.CancelReceipt().encode())
FFD12 = [OPEN, OPEN_OK, CLOSE, CLOSE[:-1] + b"\x00", CLOSE[:20], b"\x05", b"\x06", b"\x15"]
frames = st.sampled_from(
    [*FFD12, SALE, SALE_OK, RETURN, CLOSE_LEGACY, CLOSE_LEGACY_OK, CLOSE_LEGACY[:30], TLV, CANCEL]
)
chunk = st.one_of(st.binary(min_size=1, max_size=40), frames)
traffic = st.lists(st.tuples(st.sampled_from(["pos", "dev"]), chunk), max_size=25)

_dir = Path(tempfile.mkdtemp(prefix="echeck-tap-garbage-"))
_service = CheckoutService(Outbox(_dir / "outbox.sqlite3"))


def is_subsequence(needle: bytes, haystack: bytes) -> bool:
    it = iter(haystack)
    return all(byte in it for byte in needle)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic)
@example([("pos", SALE), ("dev", SALE_OK), ("pos", CLOSE_LEGACY), ("dev", CLOSE_LEGACY_OK), ("pos", b"\x06")])
@example([("pos", OPEN), ("dev", OPEN_OK), ("pos", CLOSE_LEGACY), ("dev", CLOSE_LEGACY_OK), ("pos", CANCEL)])
def test_garbage_never_crashes_the_tap_and_never_loses_a_byte(chunks: list[tuple[str, bytes]]) -> None:
    to_device: list[bytes] = []
    to_pos: list[bytes] = []
    core = TapCore(CheckoutHook(_service), to_device.append, to_pos.append, lambda _t: b"", FAST)
    try:
        for side, data in chunks:
            if side == "pos":
                core.from_pos(data)
            else:
                core.from_device(data)
        core.tick()  # the line goes quiet: whatever the tap held is relayed
    finally:
        core.close()
    sent_by_pos = b"".join(d for s, d in chunks if s == "pos")
    sent_by_device = b"".join(d for s, d in chunks if s == "dev")
    reached_device = b"".join(to_device)
    assert b"".join(to_pos) == sent_by_device
    assert len(reached_device) == len(sent_by_pos) + core.own_bytes
    assert is_subsequence(sent_by_pos, reached_device)
    if core.own_bytes == 0:
        assert reached_device == sent_by_pos


# -- real POS sessions of both command sets, against the emulator ----------------------------------------
SESSION = TapSettings(
    ask_timeout_s=5.0,
    close_wait_s=5.0,  # the cashier thread answers within milliseconds: every receipt gets the contact
    hold_timeout_s=0.0,
    link=LinkTimeouts(ack_s=0.5, answer_s=0.5, byte_s=0.1, retries=2),
)
TAP_OWN = {0xFF01, 0xFF09, 0xFF0A, 0xFF40}
vats = st.sampled_from(list(VatRate))
items_v2 = st.builds(
    lambda qty, price, vat: c.OperationV2(CalculationType.SALE, Decimal(qty), price, vat=vat, name="Сыр"),
    st.integers(1, 3),
    st.integers(1, 100_000),
    vats,
)
items_legacy = st.builds(
    lambda qty, price, vat: lg.Sale.with_vat(Decimal(qty) / 2, price * 2, vat, "Сыр"),
    st.integers(1, 6),
    st.integers(1, 50_000),
    vats,
)


@dataclass
class Receipt:
    legacy: bool
    items: list[c.OperationV2 | lg.Registration]
    open_first: bool  # legacy: 0x8D first, or let the first registration open the receipt
    returned: bool  # legacy: a sale return (0x82)
    pos_tlv: bool  # the POS sends tag 1008 itself
    card: bool
    cancel_after: bool  # a 0x88 after the printed receipt, as some drivers do


receipts = st.builds(
    Receipt,
    st.booleans(),
    st.lists(st.one_of(items_v2, items_legacy), min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


def script(receipt: Receipt) -> list[c.Request]:
    """The POS's commands for one receipt: the legacy set (0x10, 0x8D?, 0x80/0x82, 0x85) or FFD 1.2's."""
    items = list(receipt.items)
    if receipt.legacy and receipt.returned:
        items = [lg.ReturnSale(i.quantity, i.price, taxes=(lg.GROUP_OF_VAT[i.vat], 0, 0, 0)) for i in items]
    total = sum(item.total for item in items)
    out: list[c.Request] = [lg.ShortState()] if receipt.legacy else []
    if not receipt.legacy or receipt.open_first or not isinstance(items[0], lg.Registration):
        out.append(c.OpenReceipt(receipt_type=2 if receipt.legacy and receipt.returned else 0))
    out += items
    if receipt.pos_tlv:
        out.append(c.SendTlv(c.buyer_contact_tlv(BuyerContact(ContactKind.EMAIL, "pos@example.ru"))))
    if receipt.legacy:
        out.append(lg.CloseReceipt((0, total, 0, 0) if receipt.card else (total, 0, 0, 0)))
    else:
        out.append(c.CloseReceiptV2(payments=((0, total) if receipt.card else (total, 0)) + (0,) * 14))
    if receipt.cancel_after:
        out.append(c.CancelReceipt())
    return out


class Line:
    """The wire between the tap and the emulated register, driven synchronously by the test."""

    def __init__(self, core_own: Callable[[], int]) -> None:
        self.register = EmulatedRegister(fn_serial="9999078900054321", registration_number="0001234567012345")
        self.device = DeviceLink(self.register)
        self._own = core_own
        self._own_seen = 0
        self.pos_at_device = bytearray()  # the POS's bytes as they reached the register
        self.for_pos = bytearray()  # what the register said to the POS's bytes
        self.for_tap = bytearray()  # what it said to the tap's, not read yet

    def to_device(self, data: bytes) -> None:
        reply = self.device.receive(data)
        if self._own() - self._own_seen == len(data):  # the tap's own exchange counts its bytes first
            self._own_seen = self._own()
            self.for_tap += reply
        else:
            self.pos_at_device += data
            self.for_pos += reply

    def read_device(self, _timeout: float) -> bytes:
        data, self.for_tap = bytes(self.for_tap), bytearray()
        return data


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(receipts, min_size=1, max_size=3), st.data())
def test_pos_sessions_of_both_command_sets_pass_unchanged_and_are_queued(
    session: list[Receipt], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory(prefix="echeck-tap-session-") as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite3")
        service = CheckoutService(outbox)
        to_pos = bytearray()
        core: TapCore | None = None
        line = Line(lambda: core.own_bytes if core else 0)
        core = TapCore(CheckoutHook(service), line.to_device, to_pos.extend, line.read_device, SESSION)
        sent = bytearray()
        answers = LinkParser()

        def pos_sends(raw: bytes) -> None:
            cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=3)))
            for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
                if start < end:
                    sent.extend(raw[start:end])
                    core.from_pos(raw[start:end])
                    stray, core.stray_device_bytes = core.stray_device_bytes, b""
                    core.from_device(stray)
            reply, line.for_pos = bytes(line.for_pos), bytearray()
            if reply:
                core.from_device(reply)

        try:
            with cashier(service.prompts, "+79161234567"):
                for receipt in session:
                    for request in script(receipt):
                        pos_sends(b"\x05")  # ENQ: the register is idle (NAK)
                        pos_sends(encode_frame(request.encode()))
                        pos_sends(b"\x06")  # the POS acknowledges the answer
                        frames = [t for t in answers.feed(bytes(to_pos)) if isinstance(t, Frame)]
                        to_pos.clear()
                        assert [c.Answer.decode(f.payload).error for f in frames] == [0]
                core.tick()
        finally:
            core.close()  # every hook call the tap made has run: each printed receipt is in the outbox
        # every POS byte reached the register unchanged, in order; the POS heard exactly the register
        assert bytes(line.pos_at_device) == bytes(sent)
        assert len(line.for_tap) == 0
        journal = line.register.journal
        assert len(journal) == len(session)
        codes = line.register.commands
        closes = [i for i, code in enumerate(codes) if code in (0x85, 0xFF45)]
        for receipt, doc, at in zip(session, journal, closes, strict=True):
            last_tlv = max((i for i, code in enumerate(codes[:at]) if code == 0xFF0C), default=-1)
            assert last_tlv > (closes[closes.index(at) - 1] if at != closes[0] else -1), (
                "1008 before the close"
            )
            expected = "pos@example.ru" if receipt.pos_tlv else "+79161234567"
            assert doc.buyer_contact == expected
        rows = [row.payload for row in outbox.pending(100)]
        outbox.close()
        fiscal = {(r["fiscal"]["fn_serial"], r["fiscal"]["fd_number"], r["fiscal"]["fpd"]) for r in rows}
        assert fiscal == {("9999078900054321", d.fd_number, d.fpd) for d in journal}


def test_hook_calls_keep_the_order_the_tap_saw_them_in(tmp_path: Path) -> None:
    """The POS's own contact (0xFF0C) and the close follow each other within microseconds: the receipt is
    queued with that contact every time, never closed before the contact call runs."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    service = CheckoutService(outbox)
    core: TapCore | None = None
    line = Line(lambda: core.own_bytes if core else 0)
    to_pos = bytearray()
    core = TapCore(CheckoutHook(service), line.to_device, to_pos.extend, line.read_device, SESSION)
    sales = 20
    try:
        for _ in range(sales):
            receipt = Receipt(
                True, [lg.Sale.with_vat(Decimal(1), 5000, VatRate.NONE)], False, False, True, False, False
            )
            for request in script(receipt):
                for raw in (encode_frame(request.encode()), b"\x06"):
                    core.from_pos(raw)
                    reply, line.for_pos = bytes(line.for_pos), bytearray()
                    core.from_device(reply)
    finally:
        core.close()
    rows = [row.payload for row in outbox.pending(100)]
    outbox.close()
    assert len(rows) == sales
    assert [row["contact"] and row["contact"]["value"] for row in rows] == ["pos@example.ru"] * sales


@pytest.mark.parametrize("then", ["next frame", "quiet line"])
def test_a_pos_that_never_acknowledges_the_close_still_gets_its_receipt_read(
    tmp_path: Path, then: str
) -> None:
    """No ACK after 0x85's answer: the tap reads FD/FPD before the POS's next frame, or once the line is
    quiet, and the POS's bytes still reach the register unchanged."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    core: TapCore | None = None
    line = Line(lambda: core.own_bytes if core else 0)
    quiet = dataclasses.replace(SESSION, close_wait_s=0.0, read_after_s=0.0)
    core = TapCore(
        CheckoutHook(CheckoutService(outbox)), line.to_device, bytearray().extend, line.read_device, quiet
    )
    sent = bytearray()

    def pos_sends(raw: bytes) -> None:
        sent.extend(raw)
        core.from_pos(raw)
        reply, line.for_pos = bytes(line.for_pos), bytearray()
        core.from_device(reply)

    receipt = Receipt(
        True, [lg.Sale.with_vat(Decimal(1), 5000, VatRate.VAT20)], True, False, False, False, False
    )
    try:
        for request in script(receipt):
            pos_sends(encode_frame(request.encode()))
            if not isinstance(request, lg.CloseReceipt):
                pos_sends(b"\x06")
        assert 0xFF0A not in line.register.commands  # no ACK yet: the register's answer may still be wanted
        if then == "next frame":
            pos_sends(encode_frame(lg.ShortState().encode()))
        else:
            core.tick()
    finally:
        core.close()
    codes = line.register.commands
    assert codes[codes.index(0x85) + 1 : codes.index(0x85) + 3] == [0xFF01, 0xFF0A]
    assert bytes(line.pos_at_device) == bytes(sent)
    [row] = [entry.payload for entry in outbox.pending(10)]
    outbox.close()
    doc = line.register.journal[-1]
    assert (row["fiscal"]["fd_number"], row["fiscal"]["fpd"]) == (doc.fd_number, doc.fpd)


def test_a_silent_register_after_a_legacy_close_costs_three_tries_then_the_till_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No answer to the tap's reads: three tries (each bounded by the link's timeouts), an error in the log
    naming the receipt, nothing queued with made-up fiscal data, and every POS byte relayed."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    fast = dataclasses.replace(FAST, read_after_s=0.0)
    to_device: list[bytes] = []
    hook = CheckoutHook(CheckoutService(outbox))
    core = TapCore(hook, to_device.append, bytearray().extend, lambda _t: b"", fast)
    pos = [SALE, CLOSE_LEGACY, b"\x06", encode_frame(lg.ShortState().encode()), b"\x06", CANCEL]
    try:
        core.from_pos(pos[0])
        core.from_device(SALE_OK)
        core.from_pos(pos[1])
        core.from_device(CLOSE_LEGACY_OK)
        for raw in pos[2:]:
            core.from_pos(raw)
    finally:
        core.close()
    assert core.tracker.printed is None
    assert "could not be read from the register: not queued" in caplog.text
    reached = b"".join(to_device)
    assert is_subsequence(b"".join(pos), reached)
    assert len(reached) == len(b"".join(pos)) + core.own_bytes
    assert outbox.pending(10) == []
    outbox.close()
