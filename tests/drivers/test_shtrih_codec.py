"""Shtrih-M frames and commands against byte vectors.

The first vector is the trace quoted in REFERENCE.md; the others were laid out by hand from the protocol
description (Shtrih-M's published command tables, as its open-source drivers encode them) and checked
byte by byte: password 30 = 1E 00 00 00, tag 1008 = F0 03, sums in kopecks little-endian. Texts in command
fields are WIN1251 in both sets (0xFF46's name "Молоко" = CC EE EB EE EA EE; « » № exist only there), while
a TLV's string value is CP866, the FFD's encoding, because the register hands it to the FN unchanged.
The legacy set (0x10, 0x11, 0xFC, 0x80..0x85): the cashier's password 1 = 01 00 00 00, quantities in
thousandths (2 = D0 07), texts 40 bytes of WIN1251 padded with 00 ("Молоко" = CC EE EB EE EA EE).
"""

from datetime import date, datetime
from decimal import Decimal

import pytest

from drivers.shtrih import commands as c
from drivers.shtrih import legacy as lg
from drivers.shtrih.errors import DeviceError, error_text
from drivers.shtrih.link import Control, Frame, LinkParser, Malformed, encode_frame, lrc
from receipts import BuyerContact, CalculationType, ContactKind, VatRate

H = bytes.fromhex

VECTORS = [
    (c.CutReceipt(30, partial=False), "02 06 25 1E 00 00 00 00 3D"),  # REFERENCE.md trace
    (c.OpenReceipt(30, 0), "02 06 8d 1e 00 00 00 00 95"),
    (c.CancelReceipt(30), "02 05 88 1e 00 00 00 93"),
    (c.FnStatus(30), "02 06 ff 01 1e 00 00 00 e6"),
    (c.ShiftParams(30), "02 06 ff 40 1e 00 00 00 a7"),
    (c.FiscalizationResult(30), "02 06 ff 09 1e 00 00 00 ee"),
    (c.ExchangeStatus(30), "02 06 ff 39 1e 00 00 00 de"),
    (c.FindDocument(55497, 30), "02 0a ff 0a 1e 00 00 00 c9 d8 00 00 f0"),
    (
        c.SendTlv(c.buyer_contact_tlv(BuyerContact(ContactKind.PHONE, "+79161234567"))),
        "02 16 ff 0c 1e 00 00 00 f0 03 0c 00 2b 37 39 31 36 31 32 33 34 35 36 37 16",
    ),
    (
        c.OperationV2(CalculationType.SALE, Decimal(1), 5200, vat=VatRate.VAT10, name="Молоко"),
        "02 26 ff 46 1e 00 00 00 01 40 42 0f 00 00 00 50 14 00 00 00 ff ff ff ff ff ff ff ff ff ff"
        " 02 01 04 01 cc ee eb ee ea ee ec",
    ),
    (
        # 2 × 45.99, VAT 20 %, a name with the typographic characters CP866 lacks
        c.OperationV2(
            CalculationType.SALE, Decimal(2), 4599, vat=VatRate.VAT20, name="Хлеб «Бородинский» №1"
        ),
        "02 35 ff 46 1e 00 00 00 01 80 84 1e 00 00 00 f7 11 00 00 00 ff ff ff ff ff ff ff ff ff ff"
        " 01 01 04 01 d5 eb e5 e1 20 ab c1 ee f0 ee e4 e8 ed f1 ea e8 e9 bb 20 b9 31 02",
    ),
    (
        c.CloseReceiptV2(payments=(0, 5200) + (0,) * 14),
        "02 76 ff 45 1e 00 00 00 00 00 00 00 00 50 14 00 00 00" + " 00" * 70 + " 00" + " 00" * 30 + " 01 97",
    ),
    (
        c.CloseReceiptV2(payments=(0, 5200) + (0,) * 14, text="Спасибо!"),
        "02 7e ff 45 1e 00 00 00 00 00 00 00 00 50 14 00 00 00"
        + " 00" * 70
        + " 00"
        + " 00" * 30
        + " 01 d1 ef e0 f1 e8 e1 ee 21 76",
    ),
    # the legacy set
    (lg.ShortState(30), "02 05 10 1e 00 00 00 0b"),
    (lg.FullState(30), "02 05 11 1e 00 00 00 0a"),
    (lg.DeviceType(), "02 01 fc fd"),
    (
        # 2 × 89.90, department 1, tax row 2 (VAT 10 %), password 1
        lg.Sale(Decimal(2), 8990, 1, (2, 0, 0, 0), "Молоко", password=1),
        "02 3c 80 01 00 00 00 d0 07 00 00 00 1e 23 00 00 00 01 02 00 00 00 cc ee eb ee ea ee"
        + " 00" * 34
        + " 77",
    ),
    (
        # 0.5 × 429.00 returned, tax row 1 (VAT 20 %)
        lg.ReturnSale(Decimal("0.5"), 42900, 1, (1, 0, 0, 0), "Кофе", password=1),
        "02 3c 82 01 00 00 00 f4 01 00 00 00 94 a7 00 00 00 01 01 00 00 00 ca ee f4 e5" + " 00" * 36 + " 4c",
    ),
    (
        # a buy (expense) of 1.25 × 100.00 in department 2, tax row 4 (without VAT), administrator's password
        lg.Buy(Decimal("1.25"), 10000, 2, (4, 0, 0, 0), "Тара"),
        "02 3c 81 1e 00 00 00 e2 04 00 00 00 10 27 00 00 00 02 04 00 00 00 d2 e0 f0 e0" + " 00" * 36 + " 56",
    ),
    (
        lg.ReturnBuy(Decimal(3), 150, 0),  # 3 × 1.50 returned, department 0, no tax, no text
        "02 3c 83 1e 00 00 00 b8 0b 00 00 00 96 00 00 00 00 00 00 00 00 00" + " 00" * 40 + " 84",
    ),
    (
        lg.CloseReceipt((20000, 0, 0, 0), password=1),  # 200.00 in cash
        "02 47 85 01 00 00 00 20 4e 00 00 00" + " 00" * 15 + " 00 00" + " 00" * 4 + " 00" * 40 + " ad",
    ),
    (
        # 372.26 by card (payment type 2), a 1.5 % surcharge (-150 = 6A FF), a line of text
        lg.CloseReceipt((0, 37226, 0, 0), -150, text="Спасибо"),
        "02 47 85 1e 00 00 00 00 00 00 00 00 6a 91 00 00 00" + " 00" * 10 + " 6a ff 00 00 00 00"
        " d1 ef e0 f1 e8 e1 ee" + " 00" * 33 + " 7a",
    ),
]


@pytest.mark.parametrize(("request_", "wire"), VECTORS, ids=lambda v: type(v).__name__)
def test_request_encodes_to_the_vector_and_back(request_: c.Request, wire: str) -> None:
    frame = H(wire)
    assert encode_frame(request_.encode()) == frame
    [token] = LinkParser().feed(frame)
    assert isinstance(token, Frame)
    assert c.decode_request(token.payload) == request_


def test_reference_trace_answer_is_error_0x50() -> None:
    [token] = LinkParser().feed(H("02 02 25 50 77"))
    assert isinstance(token, Frame)
    answer = c.Answer.decode(token.payload)
    assert (answer.code, answer.error) == (0x25, 0x50)
    assert error_text(0x50) == "printing the result of the previous command"
    with pytest.raises(DeviceError, match="0x50"):
        answer.raise_for_error()


def test_answers_round_trip() -> None:
    at = datetime(2020, 9, 27, 14, 27)
    close = c.CloseAnswer(change=0, fd_number=55497, fpd=617635937, issued_at=at)
    payload = c.Answer(0xFF45, 0, close.encode()).encode()
    assert payload[:3] == H("ff 45 00")
    assert payload[3:] == H("00 00 00 00 00 c9 d8 00 00 61 60 d0 24 14 09 1b 0e 1b")
    assert c.CloseAnswer.decode(c.Answer.decode(payload).data) == close
    status = c.FnStatusAnswer(3, 0, 0, True, 0, at, "9251440300227597", 55497)
    assert c.FnStatusAnswer.decode(status.encode()) == status
    shift = c.ShiftAnswer(True, 363, 35)
    assert shift.encode() == H("01 6b 01 23 00")
    reg = c.FiscalizationAnswer(at, "7701234567", "0001633468026797", 1, 0, 1, 12345)
    assert c.FiscalizationAnswer.decode(reg.encode()) == reg
    unsent = c.ExchangeAnswer(1, False, 3, 55495, at)
    assert c.ExchangeAnswer.decode(unsent.encode()) == unsent
    doc = c.ReceiptDocument(at, 55497, 617635937, 1, 5200)
    assert c.ReceiptDocument.decode(doc.encode()) == doc


def test_an_item_name_is_read_as_win1251_whatever_bytes_the_pos_sent() -> None:
    head = H("1e 00 00 00 01 40 42 0f 00 00 00 50 14 00 00 00 ff ff ff ff ff ff ff ff ff ff 02 01 04 01")
    assert c.OperationV2.from_data(head + H("cc ee eb ee ea ee 00 00")).name == "Молоко"  # padding dropped
    # 0x98 is no WIN1251 character: the sale is still read (the bytes were relayed as they came anyway)
    assert c.OperationV2.from_data(head + H("cc 98")).name == "М\ufffd"


def test_buyer_contact_fits_64_bytes_of_cp866() -> None:
    long_mail = BuyerContact(ContactKind.EMAIL, "a" * 60 + "@example.ru")
    with pytest.raises(ValueError, match="at most 64"):
        c.buyer_contact_tlv(long_mail)
    mail = BuyerContact(ContactKind.EMAIL, "Buyer@Example.ru")
    assert c.buyer_contact_tlv(mail).value == b"buyer@example.ru"


def test_malformed_payloads_are_refused_with_the_reason() -> None:
    with pytest.raises(c.MalformedCommand, match="carries 5 bytes"):
        c.decode_request(H("8d 1e 00 00"))
    with pytest.raises(c.MalformedCommand, match="at least 116"):
        c.decode_request(H("ff 45 1e 00 00 00"))
    assert c.decode_request(H("13 1e 00 00 00")) is None  # a command the tap does not model (beep)
    with pytest.raises(c.MalformedCommand, match="carries 59 bytes, not 58"):
        c.decode_request(H("80") + bytes(58))
    with pytest.raises(c.MalformedCommand, match="quantity is zero"):
        c.decode_request(H("80") + bytes(59))
    with pytest.raises(c.MalformedCommand, match="carries 70 bytes"):
        c.decode_request(H("85 1e 00 00 00"))


def test_parser_keeps_every_byte_and_names_what_is_wrong() -> None:
    good = encode_frame(c.FnStatus().encode())
    bad_lrc = good[:-1] + bytes([good[-1] ^ 0xFF])
    stream = b"\x05" + b"\xaa\xbb" + bad_lrc + good + b"\x06" + b"\x02\x00" + good[:4]
    parser = LinkParser()
    tokens = parser.feed(stream)
    assert tokens[0] == Control(0x05)
    assert tokens[1] == Malformed(b"\xaa\xbb", "bytes outside a frame")
    assert tokens[2] == Malformed(bad_lrc, "bad LRC")
    assert tokens[3] == Frame(c.FnStatus().encode())
    assert tokens[4] == Control(0x06)
    assert tokens[5] == Malformed(b"\x02\x00", "frame with zero length")
    assert parser.pending == good[:4]
    assert parser.flush() == [Malformed(good[:4], "frame cut short")]
    assert lrc(H("06 25 1e 00 00 00 00")) == 0x3D


def test_legacy_answers_decode_from_the_vectors() -> None:
    """The answers the legacy set gets, byte by byte as the protocol lays them out (after CMD, error)."""
    sold = c.Answer.decode(H("80 00 01"))  # 0x80..0x83, 0x88, 0x8D: the operator's number
    assert (sold.code, sold.error, lg.OperatorAnswer.decode(sold.data)) == (0x80, 0, lg.OperatorAnswer(1))

    closed = c.Answer.decode(H("85 00 1e 10 27 00 00 00"))  # operator 30, change 100.00: nothing fiscal
    answer = lg.CloseReceiptAnswer(30, 10000)
    assert lg.CloseReceiptAnswer.decode(closed.data) == answer
    assert c.Answer(0x85, 0, answer.encode()).encode() == H("85 00 1e 10 27 00 00 00")

    # 16 bytes: operator, flags 0x0292, mode 8 (a sale receipt open), submode 0, 2 operations (low byte),
    # battery, power, FM and EKLZ errors, operations' high byte, 3 reserved
    short = H("10 00 1e 92 02 08 00 02 9c bc 00 00 00 00 00 00")
    state = lg.ShortStateAnswer(30, 0x0292, 8, 0, 2, 0x9C, 0xBC)
    assert lg.ShortStateAnswer.decode(c.Answer.decode(short).data) == state
    assert c.Answer(0x10, 0, state.encode()).encode() == short
    assert len(short) == 16
    many = lg.ShortStateAnswer(30, 0, 0x28, 0, 0x0102, 0, 0)  # a sale-return receipt with 258 operations
    assert many.encode()[5] == 0x02  # low byte
    assert many.encode()[10] == 0x01  # high byte

    full = H(
        "11 00 1e 43 32 e5 e3 01 03 18 01 65 00 92 02 02 00 00 43 32 e5 e3 01 03 18"
        " 1e 0b 1a 16 2d 07 01 4e 61 bc 00 00 00 d0 07 01 1d 87 83 07 cb 01 00"
    )
    assert len(full) == 48
    status = lg.FullStateAnswer.decode(c.Answer.decode(full).data)
    assert status == lg.FullStateAnswer(
        operator=30,
        firmware_version="C2",
        firmware_build=58341,
        firmware_date=date(2024, 3, 1),
        hall_number=1,
        document_number=101,
        flags=0x0292,
        mode=2,
        submode=0,
        port=0,
        fm_version="C2",
        fm_build=58341,
        fm_date=date(2024, 3, 1),
        at=datetime(2026, 11, 30, 22, 45, 7),
        fm_flags=1,
        serial_number=12345678,
        last_closed_shift=0,
        free_fm_records=2000,
        registrations=1,
        registrations_left=29,
        inn=7701234567,
    )
    assert c.Answer(0x11, 0, status.encode()).encode() == full

    kind = H("fc 00 00 00 01 0d f0 00") + "ШТРИХ-М-01Ф".encode("cp1251")
    device = lg.DeviceTypeAnswer(0, 0, 1, 13, 0xF0, 0, "ШТРИХ-М-01Ф")
    assert lg.DeviceTypeAnswer.decode(c.Answer.decode(kind).data) == device
    assert c.Answer(0xFC, 0, device.encode()).encode() == kind


def test_fn_answers_the_tap_reads_after_a_legacy_close() -> None:
    """0xFF01 (FN status: the last FD) and 0xFF0A (that document: FD, FPD, time, operation, total)."""
    status = H(
        "ff 01 00 03 00 00 01 00 1a 0b 1e 16 2d"
        + " 39 39 39 39 30 37 38 39 30 30 30 35 34 33 32 31"
        + " 0b 00 00 00"
    )
    fn = c.FnStatusAnswer.decode(c.Answer.decode(status).data)
    assert fn == c.FnStatusAnswer(3, 0, 0, True, 0, datetime(2026, 11, 30, 22, 45), "9999078900054321", 11)
    assert c.Answer(0xFF01, 0, fn.encode()).encode() == status
    # type 3 (receipt), no OFD ticket yet, 30.11.26 22:45, FD 11, FPD 617635937, operation 1 (sale), 372.26
    found = H("ff 0a 00 03 00 1a 0b 1e 16 2d 0b 00 00 00 61 60 d0 24 01 6a 91 00 00 00")
    doc = c.ReceiptDocument.decode(c.Answer.decode(found).data)
    assert doc == c.ReceiptDocument(datetime(2026, 11, 30, 22, 45), 11, 617635937, 1, 37226)
    assert c.Answer(0xFF0A, 0, doc.encode()).encode() == found


def test_legacy_items_read_as_receipt_items() -> None:
    milk = lg.Sale.with_vat(Decimal("1.5"), 8990, VatRate.VAT10, "//Молоко")
    assert (milk.taxes, milk.vat, milk.total, milk.name) == ((2, 0, 0, 0), VatRate.VAT10, 13485, "Молоко")
    assert milk.calculation_type is CalculationType.SALE
    assert lg.ReturnSale().calculation_type is CalculationType.SALE_RETURN
    assert (lg.Buy().receipt_type, lg.Buy().calculation_type) == (1, CalculationType.EXPENSE)
    back = lg.ReturnBuy()
    assert (back.receipt_type, back.calculation_type) == (3, CalculationType.EXPENSE_RETURN)
    assert lg.Sale(taxes=(0, 0, 0, 0)).vat is VatRate.NONE  # no tax row: without VAT
    with pytest.raises(ValueError, match="3 decimals"):
        lg.Sale(Decimal("0.0005"), 100).encode()
    with pytest.raises(ValueError, match="at most 40"):
        lg.Sale(Decimal(1), 100, text="я" * 41).encode()
