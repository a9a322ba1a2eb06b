from datetime import datetime
from decimal import Decimal

import pytest

from receipts import (
    CalculationType,
    FiscalData,
    FnsQr,
    InvalidReceipt,
    Item,
    Payment,
    Receipt,
    build_qr,
    format_rubles,
    parse_qr,
    parse_rubles,
)
from receipts.qr import InvalidQr

REAL_QR = "t=20200927T1427&s=52.00&fn=9251440300227597&i=55497&fp=617635937&n=1"


def real_fiscal(**changes: object) -> FiscalData:
    values = dict(
        fn_serial="9251440300227597",
        fd_number=55497,
        fpd=617635937,
        registration_number="0001633468026797",
        shift_number=363,
        receipt_number=36,
        issued_at=datetime(2020, 9, 27, 14, 27),
    )
    values.update(changes)
    return FiscalData(**values)  # type: ignore[arg-type]


def test_the_real_receipt_of_reference_md_builds_its_printed_qr() -> None:
    receipt = Receipt(
        real_fiscal(), (Item("Кофе", 5200, Decimal(1), 5200, "vat20"),), (Payment("card", 5200),), 5200
    )
    assert receipt.qr == REAL_QR
    assert str(receipt.key) == "9251440300227597:55497:617635937"


def test_qr_round_trip_and_seconds() -> None:
    qr = parse_qr(REAL_QR)
    assert qr == FnsQr(
        datetime(2020, 9, 27, 14, 27), 5200, "9251440300227597", 55497, 617635937, CalculationType.SALE
    )
    assert build_qr(qr) == REAL_QR
    with_seconds = "t=20200927T142705&s=1234.50&fn=9251440300227597&i=1&fp=2&n=2"
    assert build_qr(parse_qr(with_seconds)) == with_seconds


@pytest.mark.parametrize(
    "text",
    ["", "t=2020&s=1&fn=1&i=1&fp=1&n=1", REAL_QR.replace("n=1", "n=9"), REAL_QR.replace("&fp=617635937", "")],
)
def test_bad_qr_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidQr):
        parse_qr(text)


def test_money_is_exact() -> None:
    assert parse_rubles("52.00") == 5200
    assert parse_rubles("0,10") == 10
    assert parse_rubles(Decimal("1234.5")) == 123450
    assert format_rubles(5) == "0.05"
    assert format_rubles(-12345) == "-123.45"
    with pytest.raises(TypeError):
        parse_rubles(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kopeck"):
        parse_rubles("0.001")


@pytest.mark.parametrize(
    ("fiscal", "message"),
    [
        (dict(fn_serial="123"), "fn_serial"),
        (dict(fd_number=0), "fd_number"),
        (dict(fpd=2**32), "fpd"),
        (dict(registration_number="abc"), "registration_number"),
        (dict(calculation_type=7), "7"),
    ],
)
def test_impossible_fiscal_data_is_refused(fiscal: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        real_fiscal(**fiscal)


def test_totals_and_payments_must_add_up() -> None:
    items = (Item("A", 1000, Decimal(2), 2000), Item("B", 500, Decimal("0.5"), 250))
    Receipt(real_fiscal(), items, (Payment("cash", 5000),), 2250)  # cash may exceed: change
    with pytest.raises(InvalidReceipt, match="sum of item totals"):
        Receipt(real_fiscal(), items, (Payment("cash", 5000),), 2000)
    with pytest.raises(InvalidReceipt, match="do not cover"):
        Receipt(real_fiscal(), items, (Payment("card", 2000),), 2250)
    with pytest.raises(InvalidReceipt, match="card payments exceed"):
        Receipt(real_fiscal(), items, (Payment("card", 3000),), 2250)
    with pytest.raises(InvalidReceipt, match="at least one item"):
        Receipt(real_fiscal(), (), (Payment("card", 1),), 0)
    with pytest.raises(InvalidReceipt, match="quantity"):
        Item("A", 100, Decimal(0), 0)
