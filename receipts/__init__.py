"""The domain: receipts, FFD fields, buyer contacts and the FNS QR string. Plain Python, no I/O."""

from receipts.contact import (
    BuyerContact,
    ContactKind,
    InvalidContact,
    hash_identifier,
    keyed_hash,
    mask,
    normalize_email,
    normalize_phone,
    parse_contact,
)
from receipts.ffd import CalculationType, PaymentKind, VatRate
from receipts.money import format_rubles, parse_rubles
from receipts.qr import FnsQr, build_qr, parse_qr
from receipts.receipt import FiscalData, InvalidReceipt, Item, Payment, Receipt, ReceiptKey

__all__ = [
    "BuyerContact",
    "CalculationType",
    "ContactKind",
    "FiscalData",
    "FnsQr",
    "InvalidContact",
    "InvalidReceipt",
    "Item",
    "Payment",
    "PaymentKind",
    "Receipt",
    "ReceiptKey",
    "VatRate",
    "build_qr",
    "format_rubles",
    "hash_identifier",
    "keyed_hash",
    "mask",
    "normalize_email",
    "normalize_phone",
    "parse_contact",
    "parse_qr",
    "parse_rubles",
]
