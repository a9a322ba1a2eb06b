"""Shtrih-M frames and commands against byte vectors.

The first vector is the trace quoted in REFERENCE.md; the others were laid out by hand from the protocol
description (Shtrih-M's published command tables, as its open-source drivers encode them) and checked
byte by byte: password 30 = 1E 00 00 00, tag 1008 = F0 03, sums in kopecks little-endian, names in cp866.
"""

from datetime import datetime
from decimal import Decimal

import pytest

from drivers.shtrih import commands as c
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
        " 02 01 04 01 8c ae ab ae aa ae ec",
    ),
    (
        c.CloseReceiptV2(payments=(0, 5200) + (0,) * 14),
        "02 76 ff 45 1e 00 00 00 00 00 00 00 00 50 14 00 00 00" + " 00" * 70 + " 00" + " 00" * 30 + " 01 97",
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
    assert c.decode_request(H("10 1e 00 00 00")) is None  # a command the tap does not model


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
