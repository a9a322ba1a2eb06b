"""Valid receipts for sync tests: each `n` gives a distinct fiscal key on one register's FN."""

from datetime import datetime, timedelta
from decimal import Decimal

from receipts import BuyerContact, ContactKind, FiscalData, Item, Payment, PaymentKind, Receipt, VatRate

FN_SERIAL = "9251440300227597"
REGISTRATION = "0001633468026797"
PHONE = "79161234567"


def make_receipt(
    n: int, *, fn_serial: str = FN_SERIAL, with_contact: bool = True, fpd: int | None = None
) -> Receipt:
    total = 5200 + n % 1000
    return Receipt(
        fiscal=FiscalData(
            fn_serial=fn_serial,
            fd_number=n + 1,
            fpd=fpd if fpd is not None else 617_635_937 + n,
            registration_number=REGISTRATION,
            shift_number=363,
            receipt_number=n % 1000 + 1,
            issued_at=datetime(2020, 9, 27, 14, 27) + timedelta(seconds=n),
        ),
        items=(Item(name="Хлеб", price=total, quantity=Decimal(1), total=total, vat=VatRate.VAT10),),
        payments=(Payment(kind=PaymentKind.CARD, amount=total),),
        total=total,
        contact=BuyerContact(ContactKind.PHONE, PHONE) if with_contact else None,
    )
