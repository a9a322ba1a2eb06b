"""A closed fiscal receipt with the FFD fields echeck keeps (see REFERENCE.md for the tags)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from receipts.contact import BuyerContact
from receipts.ffd import CalculationType, PaymentKind, VatRate
from receipts.qr import FnsQr, build_qr


class InvalidReceipt(ValueError):
    """Fiscal data that cannot describe a real receipt; the message names the field."""


@dataclass(frozen=True, slots=True)
class Item:
    """Tag 1059: name (1030), price (1079), quantity (1023), total (1043), VAT rate (1199)."""

    name: str
    price: int  # kopecks
    quantity: Decimal
    total: int  # kopecks
    vat: VatRate = VatRate.NONE

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 128:
            raise InvalidReceipt("item name must be 1..128 characters")
        if self.price < 0 or self.total < 0:
            raise InvalidReceipt(f"item {self.name!r}: price and total must not be negative")
        if Decimal(self.quantity) <= 0:
            raise InvalidReceipt(f"item {self.name!r}: quantity must be positive")
        object.__setattr__(self, "quantity", Decimal(self.quantity))
        object.__setattr__(self, "vat", VatRate(self.vat))


@dataclass(frozen=True, slots=True)
class Payment:
    """Tag 1031 (cash) or 1081 (card)."""

    kind: PaymentKind
    amount: int  # kopecks

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PaymentKind(self.kind))
        if self.amount <= 0:
            raise InvalidReceipt("payment amount must be positive")


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    """A receipt's identity worldwide: FN serial + FD number, proven by the fiscal sign."""

    fn_serial: str
    fd_number: int
    fpd: int

    def __str__(self) -> str:
        return f"{self.fn_serial}:{self.fd_number}:{self.fpd}"


@dataclass(frozen=True, slots=True)
class FiscalData:
    """What the fiscal register answers when the receipt closes."""

    fn_serial: str  # 1041, 16 digits
    fd_number: int  # 1040
    fpd: int  # 1077, the fiscal sign, up to 10 digits
    registration_number: str  # 1037, 16 digits (some dumps keep it zero-padded to 20)
    shift_number: int  # 1038
    receipt_number: int  # 1042
    issued_at: datetime  # 1012, the register's local time
    calculation_type: CalculationType = CalculationType.SALE  # 1054

    def __post_init__(self) -> None:
        if not (self.fn_serial.isdigit() and len(self.fn_serial) == 16):
            raise InvalidReceipt("fn_serial must be 16 digits")
        if not (self.registration_number.isdigit() and 1 <= len(self.registration_number) <= 20):
            raise InvalidReceipt("registration_number must be up to 20 digits")
        if self.fd_number <= 0:
            raise InvalidReceipt("fd_number must be positive")
        if not 0 < self.fpd < 2**32:
            raise InvalidReceipt("fpd must be a positive 32-bit number")
        if self.shift_number < 0 or self.receipt_number < 0:
            raise InvalidReceipt("shift_number and receipt_number must not be negative")
        object.__setattr__(self, "calculation_type", CalculationType(self.calculation_type))

    @property
    def key(self) -> ReceiptKey:
        return ReceiptKey(self.fn_serial, self.fd_number, self.fpd)


@dataclass(frozen=True, slots=True)
class Receipt:
    fiscal: FiscalData
    items: tuple[Item, ...]
    payments: tuple[Payment, ...]
    total: int  # 1020, kopecks
    contact: BuyerContact | None = None  # 1008
    loyalty_card: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "payments", tuple(self.payments))
        if not self.items:
            raise InvalidReceipt("a receipt needs at least one item")
        if self.total != sum(item.total for item in self.items):
            raise InvalidReceipt(
                f"total {self.total} differs from the sum of item totals {sum(i.total for i in self.items)}"
            )
        paid = sum(p.amount for p in self.payments)
        card = sum(p.amount for p in self.payments if p.kind is PaymentKind.CARD)
        if paid < self.total:
            raise InvalidReceipt(f"payments {paid} do not cover the total {self.total}")
        if card > self.total:
            raise InvalidReceipt("card payments exceed the total (only cash can give change)")

    @property
    def key(self) -> ReceiptKey:
        return self.fiscal.key

    @property
    def qr(self) -> str:
        f = self.fiscal
        return build_qr(FnsQr(f.issued_at, self.total, f.fn_serial, f.fd_number, f.fpd, f.calculation_type))
