"""The Shtrih-M commands a sale needs, as values with exact byte layouts (fields little-endian).

Layouts follow the protocol description published by Shtrih-M (v1, FN commands 0xFFxx) and its
open-source drivers. Every request `encode()`s to a frame payload (CMD + DATA) and `decode()`s from one;
answers are `Answer(code, error, data)` with typed readers for the answers the tap and doctor use.
Texts in command fields (0xFF46's item name, 0xFF45's text) are WIN1251, as the protocol says for every
text it carries; the register converts them for the fiscal storage. A TLV (0xFF0C) goes to the fiscal
storage as it is, so its string values are already in the FFD's encoding, CP866.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Self

from drivers.shtrih.errors import DeviceError
from drivers.shtrih.link import split_payload
from receipts import BuyerContact, CalculationType, VatRate
from receipts.ffd import Tag

ADMIN_PASSWORD = 30  # the system administrator's default password
COMPUTE = 0xFF_FF_FF_FF_FF  # "let the register compute it" in 5-byte sum fields
BUYER_CONTACT_MAX = 64  # bytes of tag 1008 in CP866
PROTOCOL_ENCODING = "cp1251"  # texts in command fields (WIN1251)
FFD_ENCODING = "cp866"  # string values of TLVs, as the FFD stores them
TLV_MAX = 250

# FF46 tax byte: one bit per rate, as the device numbers them
VAT_BITS: dict[VatRate, int] = {
    VatRate.VAT20: 0x01,
    VatRate.VAT10: 0x02,
    VatRate.VAT0: 0x04,
    VatRate.NONE: 0x08,
    VatRate.VAT120: 0x10,
    VatRate.VAT110: 0x20,
}
VAT_BY_BITS = {bits: rate for rate, bits in VAT_BITS.items()}


class MalformedCommand(ValueError):
    """A payload that does not fit the command's layout."""


def le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def from_le(data: bytes) -> int:
    return int.from_bytes(data, "little")


def text(value: str, limit: int, encoding: str = PROTOCOL_ENCODING) -> bytes:
    """A command's text field (WIN1251); characters the encoding lacks become `?`."""
    raw = value.encode(encoding, errors="replace")
    if len(raw) > limit:
        raise ValueError(f"text is {len(raw)} bytes in {encoding}; at most {limit} fit")
    return raw


def read_text(data: bytes) -> str:
    """A command's text field as the POS sent it; trailing zero padding dropped, odd bytes never fatal."""
    return data.rstrip(b"\x00").decode(PROTOCOL_ENCODING, errors="replace")


def fn_datetime(data: bytes) -> datetime:
    """5 bytes YY MM DD HH MM, as the fiscal storage keeps dates."""
    yy, mm, dd, hh, mi = data[:5]
    return datetime(2000 + yy, mm, dd, hh, mi)


def encode_fn_datetime(at: datetime) -> bytes:
    return bytes([at.year - 2000, at.month, at.day, at.hour, at.minute])


def _code_bytes(code: int) -> bytes:
    return code.to_bytes(2, "big") if code > 0xFF else bytes([code])


# every command class, by code: each one registers itself when its module is imported (this one and
# `legacy`, which the package imports, so both command sets are always known)
REQUESTS: dict[int, type["Request"]] = {}


class Request(ABC):
    CODE: ClassVar[int]
    SIZE: ClassVar[int | None] = None  # exact data size, when fixed

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "CODE" in cls.__dict__:
            if cls.CODE in REQUESTS:
                raise TypeError(f"two command classes for 0x{cls.CODE:X}")
            REQUESTS[cls.CODE] = cls

    @abstractmethod
    def data(self) -> bytes:
        """The command's data bytes, after the command code."""

    def encode(self) -> bytes:
        return _code_bytes(self.CODE) + self.data()

    @classmethod
    @abstractmethod
    def from_data(cls, data: bytes) -> Self:
        """The command from its data bytes; raises MalformedCommand."""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        code, data = split_payload(payload)
        if code != cls.CODE:
            raise MalformedCommand(f"payload is command 0x{code:X}, not 0x{cls.CODE:X}")
        if cls.SIZE is not None and len(data) != cls.SIZE:
            raise MalformedCommand(f"command 0x{cls.CODE:X} carries {cls.SIZE} bytes, not {len(data)}")
        try:
            return cls.from_data(data)
        except (IndexError, ValueError, UnicodeDecodeError) as exc:
            raise MalformedCommand(f"command 0x{cls.CODE:X}: {exc}") from exc


@dataclass(frozen=True)
class PasswordOnly(Request):
    password: int = ADMIN_PASSWORD
    SIZE: ClassVar[int | None] = 4

    def data(self) -> bytes:
        return le(self.password, 4)

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls(from_le(data[:4]))


@dataclass(frozen=True)
class CutReceipt(Request):
    password: int = ADMIN_PASSWORD
    partial: bool = False
    CODE: ClassVar[int] = 0x25
    SIZE: ClassVar[int | None] = 5

    def data(self) -> bytes:
        return le(self.password, 4) + bytes([int(self.partial)])

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls(from_le(data[:4]), bool(data[4]))


@dataclass(frozen=True)
class OpenReceipt(Request):
    """0x8D. Receipt type: 0 sale, 1 buy (expense), 2 sale return, 3 buy return."""

    password: int = ADMIN_PASSWORD
    receipt_type: int = 0
    CODE: ClassVar[int] = 0x8D
    SIZE: ClassVar[int | None] = 5

    def data(self) -> bytes:
        return le(self.password, 4) + bytes([self.receipt_type])

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls(from_le(data[:4]), data[4])

    @property
    def calculation_type(self) -> CalculationType:
        return {0: CalculationType.SALE, 1: CalculationType.EXPENSE, 2: CalculationType.SALE_RETURN}.get(
            self.receipt_type, CalculationType.EXPENSE_RETURN
        )


@dataclass(frozen=True)
class CancelReceipt(PasswordOnly):
    CODE: ClassVar[int] = 0x88


@dataclass(frozen=True)
class OperationV2(Request):
    """0xFF46: one item. Quantity has 6 decimals; sums are kopecks; COMPUTE lets the device compute."""

    operation: CalculationType = CalculationType.SALE
    quantity: Decimal = Decimal(1)
    price: int = 0
    amount: int = COMPUTE
    tax_amount: int = COMPUTE
    vat: VatRate = VatRate.NONE
    name: str = ""
    department: int = 1
    payment_method: int = 4  # full payment (tag 1214)
    payment_item: int = 1  # commodity (tag 1212)
    password: int = ADMIN_PASSWORD
    CODE: ClassVar[int] = 0xFF46

    def data(self) -> bytes:
        micro = Decimal(self.quantity) * 1_000_000
        if micro != micro.to_integral_value() or micro <= 0:
            raise ValueError(f"quantity {self.quantity} needs more than 6 decimals or is not positive")
        return (
            le(self.password, 4)
            + bytes([int(self.operation)])
            + le(int(micro), 6)
            + le(self.price, 5)
            + le(self.amount, 5)
            + le(self.tax_amount, 5)
            + bytes([VAT_BITS[VatRate(self.vat)], self.department, self.payment_method, self.payment_item])
            + text(self.name, 128)
        )

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        if len(data) < 30:
            raise ValueError(f"0xFF46 needs at least 30 bytes, got {len(data)}")
        vat = VAT_BY_BITS.get(data[26])
        if vat is None:
            raise ValueError(f"tax byte 0x{data[26]:02X} names no single VAT rate")
        return cls(
            password=from_le(data[0:4]),
            operation=CalculationType(data[4]),
            quantity=Decimal(from_le(data[5:11])) / 1_000_000,
            price=from_le(data[11:16]),
            amount=from_le(data[16:21]),
            tax_amount=from_le(data[21:26]),
            vat=vat,
            department=data[27],
            payment_method=data[28],
            payment_item=data[29],
            name=read_text(data[30:]),
        )

    @property
    def total(self) -> int:
        if self.amount != COMPUTE:
            return self.amount
        return int((self.price * Decimal(self.quantity)).quantize(Decimal(1)))


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes

    def encode(self) -> bytes:
        return le(self.tag, 2) + le(len(self.value), 2) + self.value

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 4:
            raise ValueError("TLV shorter than its 4-byte header")
        size = from_le(data[2:4])
        if len(data) != 4 + size:
            raise ValueError(f"TLV says {size} value bytes, carries {len(data) - 4}")
        return cls(from_le(data[0:2]), data[4:])


def buyer_contact_tlv(contact: BuyerContact) -> Tlv:
    """Tag 1008 as the fiscal storage keeps it: CP866, at most 64 bytes."""
    return Tlv(Tag.BUYER_CONTACT, text(contact.fiscal_value, BUYER_CONTACT_MAX, FFD_ENCODING))


@dataclass(frozen=True)
class SendTlv(Request):
    """0xFF0C: a TLV structure added to the open document (before its close)."""

    tlv: Tlv
    password: int = ADMIN_PASSWORD
    CODE: ClassVar[int] = 0xFF0C

    def data(self) -> bytes:
        raw = self.tlv.encode()
        if len(raw) > TLV_MAX:
            raise ValueError(f"TLV is {len(raw)} bytes; at most {TLV_MAX}")
        return le(self.password, 4) + raw

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls(Tlv.decode(data[4:]), from_le(data[:4]))


@dataclass(frozen=True)
class CloseReceiptV2(Request):
    """0xFF45: 16 payment sums (1 cash, 2.. electronic), rounding, 6 tax sums, tax system, text."""

    payments: tuple[int, ...] = field(default_factory=lambda: (0,) * 16)
    rounding: int = 0
    taxes: tuple[int, ...] = (0,) * 6
    tax_system: int = 1  # bit 0: general (osn)
    text: str = ""
    password: int = ADMIN_PASSWORD
    CODE: ClassVar[int] = 0xFF45

    def data(self) -> bytes:
        if len(self.payments) != 16 or len(self.taxes) != 6:
            raise ValueError("0xFF45 takes exactly 16 payment sums and 6 tax sums")
        return (
            le(self.password, 4)
            + b"".join(le(p, 5) for p in self.payments)
            + bytes([self.rounding])
            + b"".join(le(t, 5) for t in self.taxes)
            + bytes([self.tax_system])
            + text(self.text, 64)
        )

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        if len(data) < 116:
            raise ValueError(f"0xFF45 needs at least 116 bytes, got {len(data)}")
        payments = tuple(from_le(data[4 + 5 * i : 9 + 5 * i]) for i in range(16))
        taxes = tuple(from_le(data[85 + 5 * i : 90 + 5 * i]) for i in range(6))
        return cls(payments, data[84], taxes, data[115], read_text(data[116:]), from_le(data[:4]))


@dataclass(frozen=True)
class FnStatus(PasswordOnly):
    CODE: ClassVar[int] = 0xFF01


@dataclass(frozen=True)
class FiscalizationResult(PasswordOnly):
    """0xFF09: registration data (the KKT registration number lives here)."""

    CODE: ClassVar[int] = 0xFF09


@dataclass(frozen=True)
class ExchangeStatus(PasswordOnly):
    """0xFF39: documents not yet sent to the OFD."""

    CODE: ClassVar[int] = 0xFF39


@dataclass(frozen=True)
class ShiftParams(PasswordOnly):
    CODE: ClassVar[int] = 0xFF40


@dataclass(frozen=True)
class FindDocument(Request):
    """0xFF0A: a fiscal document by its number (the last one after a timeout)."""

    fd_number: int = 0
    password: int = ADMIN_PASSWORD
    CODE: ClassVar[int] = 0xFF0A
    SIZE: ClassVar[int | None] = 8

    def data(self) -> bytes:
        return le(self.password, 4) + le(self.fd_number, 4)

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls(from_le(data[4:8]), from_le(data[:4]))


def decode_request(payload: bytes) -> Request | None:
    """The typed request, or None for a command we do not model (the tap passes it on anyway)."""
    code, _ = split_payload(payload)
    cls = REQUESTS.get(code)
    return cls.decode(payload) if cls else None


# -- answers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    code: int
    error: int
    data: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        code, rest = split_payload(payload)
        if not rest:
            raise MalformedCommand(f"answer to 0x{code:X} has no error byte")
        return cls(code, rest[0], rest[1:])

    def encode(self) -> bytes:
        return _code_bytes(self.code) + bytes([self.error]) + self.data

    @property
    def ok(self) -> bool:
        return self.error == 0

    def raise_for_error(self) -> "Answer":
        if self.error:
            raise DeviceError(self.code, self.error)
        return self


@dataclass(frozen=True)
class CloseAnswer:
    change: int
    fd_number: int
    fpd: int
    issued_at: datetime

    def encode(self) -> bytes:
        at = encode_fn_datetime(self.issued_at)
        return le(self.change, 5) + le(self.fd_number, 4) + le(self.fpd, 4) + at

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 18:
            raise MalformedCommand(f"0xFF45 answer needs 18 data bytes, got {len(data)}")
        return cls(from_le(data[0:5]), from_le(data[5:9]), from_le(data[9:13]), fn_datetime(data[13:18]))


@dataclass(frozen=True)
class FnStatusAnswer:
    life_phase: int  # 3: fiscal mode
    current_document: int
    document_data: int
    shift_open: bool
    warnings: int  # bit 0 replace FN soon, 1 FN resource almost out, 2 memory 90 % full, 3 OFD timeout
    at: datetime
    fn_serial: str
    last_fd: int

    def encode(self) -> bytes:
        head = bytes([self.life_phase, self.current_document, self.document_data, int(self.shift_open)])
        return (
            head
            + bytes([self.warnings])
            + encode_fn_datetime(self.at)
            + self.fn_serial.encode("ascii")
            + le(self.last_fd, 4)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 30:
            raise MalformedCommand(f"0xFF01 answer needs 30 data bytes, got {len(data)}")
        return cls(
            data[0],
            data[1],
            data[2],
            bool(data[3]),
            data[4],
            fn_datetime(data[5:10]),
            data[10:26].decode("ascii"),
            from_le(data[26:30]),
        )


@dataclass(frozen=True)
class ShiftAnswer:
    shift_open: bool
    shift_number: int
    receipt_number: int  # receipts in this shift so far

    def encode(self) -> bytes:
        return bytes([int(self.shift_open)]) + le(self.shift_number, 2) + le(self.receipt_number, 2)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 5:
            raise MalformedCommand(f"0xFF40 answer needs 5 data bytes, got {len(data)}")
        return cls(bool(data[0]), from_le(data[1:3]), from_le(data[3:5]))


@dataclass(frozen=True)
class FiscalizationAnswer:
    at: datetime
    inn: str
    registration_number: str
    tax_code: int
    work_mode: int
    fd_number: int
    fpd: int

    def encode(self) -> bytes:
        return (
            encode_fn_datetime(self.at)
            + self.inn.ljust(12).encode("ascii")
            + self.registration_number.ljust(20).encode("ascii")
            + bytes([self.tax_code, self.work_mode])
            + le(self.fd_number, 4)
            + le(self.fpd, 4)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 47:
            raise MalformedCommand(f"0xFF09 answer needs 47 data bytes, got {len(data)}")
        return cls(
            fn_datetime(data[0:5]),
            data[5:17].decode("ascii").strip(),
            data[17:37].decode("ascii").strip(),
            data[37],
            data[38],
            from_le(data[39:43]),
            from_le(data[43:47]),
        )


@dataclass(frozen=True)
class ExchangeAnswer:
    status: int
    reading: bool
    unsent: int
    first_unsent_fd: int
    first_unsent_at: datetime | None

    def encode(self) -> bytes:
        at = encode_fn_datetime(self.first_unsent_at) if self.first_unsent_at else bytes(5)
        return bytes([self.status, int(self.reading)]) + le(self.unsent, 2) + le(self.first_unsent_fd, 4) + at

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 13:
            raise MalformedCommand(f"0xFF39 answer needs 13 data bytes, got {len(data)}")
        at = fn_datetime(data[8:13]) if any(data[8:13]) else None
        return cls(data[0], bool(data[1]), from_le(data[2:4]), from_le(data[4:8]), at)


@dataclass(frozen=True)
class ReceiptDocument:
    """0xFF0A answer for a receipt (document type 3)."""

    at: datetime
    fd_number: int
    fpd: int
    operation: int  # tag 1054
    total: int
    ticket_received: bool = False
    DOC_TYPE: ClassVar[int] = 3

    def encode(self) -> bytes:
        return (
            bytes([self.DOC_TYPE, int(self.ticket_received)])
            + encode_fn_datetime(self.at)
            + le(self.fd_number, 4)
            + le(self.fpd, 4)
            + bytes([self.operation])
            + le(self.total, 5)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 21 or data[0] != cls.DOC_TYPE:
            raise MalformedCommand("0xFF0A answer is not a receipt")
        return cls(
            fn_datetime(data[2:7]),
            from_le(data[7:11]),
            from_le(data[11:15]),
            data[15],
            from_le(data[16:21]),
            bool(data[1]),
        )
