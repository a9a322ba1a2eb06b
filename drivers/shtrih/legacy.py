"""The legacy Shtrih-M sale commands (the FFD 1.05 set many POS drivers still use), with exact byte layouts.

0x10 short state, 0x11 full state, 0xFC device type, 0x80..0x83 registrations (sale, buy, sale return,
buy return) and 0x85 close. Layouts follow Shtrih-M's published protocol description ("Протокол работы
ККТ"): fields little-endian, the operator's 4-byte password first, quantities in thousandths, sums in
kopecks, texts 40 bytes of WIN1251 padded with zero bytes. 0x85's answer carries only the change: the
fiscal document's number and sign are read from the fiscal storage afterwards (0xFF01, 0xFF0A).
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Self

from drivers.shtrih.commands import (
    ADMIN_PASSWORD,
    PROTOCOL_ENCODING,
    MalformedCommand,
    OpenReceipt,
    PasswordOnly,
    Request,
    from_le,
    le,
    read_text,
    text,
)
from receipts import CalculationType, VatRate

TEXT_SIZE = 40
QUANTITY_SCALE = 1000  # 0x80..0x83 count in thousandths

# The register's tax table (table 6) as Shtrih-M ships it; the tax byte names a row. 0 is "no tax".
TAX_GROUPS: dict[int, VatRate] = {
    0: VatRate.NONE,
    1: VatRate.VAT20,
    2: VatRate.VAT10,
    3: VatRate.VAT0,
    4: VatRate.NONE,
    5: VatRate.VAT120,
    6: VatRate.VAT110,
}
GROUP_OF_VAT = {rate: group for group, rate in TAX_GROUPS.items() if group}


def fixed_text(value: str, size: int = TEXT_SIZE) -> bytes:
    return text(value, size).ljust(size, b"\x00")


def _quantity(value: Decimal) -> int:
    scaled = Decimal(value) * QUANTITY_SCALE
    if scaled != scaled.to_integral_value() or scaled <= 0:
        raise ValueError(f"quantity {value} needs more than 3 decimals or is not positive")
    return int(scaled)


def _dmy(data: bytes) -> date:
    return date(2000 + data[2], data[1], data[0])


def _encode_dmy(day: date) -> bytes:
    return bytes([day.day, day.month, day.year - 2000])


def _two_chars(version: str) -> bytes:
    return version.encode("ascii")[:2].ljust(2, b" ")


# -- requests --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShortState(PasswordOnly):
    """0x10: mode, submode, operations in the open receipt. POS drivers poll it before every step."""

    CODE: ClassVar[int] = 0x10


@dataclass(frozen=True)
class FullState(PasswordOnly):
    """0x11: firmware, document number, mode, date and time, serial number, INN."""

    CODE: ClassVar[int] = 0x11


@dataclass(frozen=True)
class DeviceType(Request):
    """0xFC: what the device is; the one command without a password."""

    CODE: ClassVar[int] = 0xFC
    SIZE: ClassVar[int | None] = 0

    def data(self) -> bytes:
        return b""

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return cls()


@dataclass(frozen=True)
class Registration(Request):
    """0x80..0x83: one item. Opens a receipt of its own kind when none is open."""

    quantity: Decimal = Decimal(1)
    price: int = 0  # kopecks
    department: int = 1
    taxes: tuple[int, int, int, int] = (0, 0, 0, 0)  # tax-table rows; the first one names the VAT rate
    text: str = ""
    password: int = ADMIN_PASSWORD
    SIZE: ClassVar[int | None] = 59

    def data(self) -> bytes:
        if len(self.taxes) != 4:
            raise ValueError("a registration takes exactly 4 tax bytes")
        return (
            le(self.password, 4)
            + le(_quantity(self.quantity), 5)
            + le(self.price, 5)
            + bytes([self.department])
            + bytes(self.taxes)
            + fixed_text(self.text)
        )

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        quantity = Decimal(from_le(data[4:9])) / QUANTITY_SCALE
        if quantity <= 0:
            raise ValueError("quantity is zero")
        taxes = (data[15], data[16], data[17], data[18])
        return cls(quantity, from_le(data[9:14]), data[14], taxes, read_text(data[19:59]), from_le(data[:4]))

    @classmethod
    def with_vat(cls, quantity: Decimal, price: int, vat: VatRate, text: str = "") -> Self:
        return cls(Decimal(quantity), price, taxes=(GROUP_OF_VAT[VatRate(vat)], 0, 0, 0), text=text)

    @property
    def receipt_type(self) -> int:
        """The 0x8D receipt type this registration opens and fits: 0x80 sale, 0x81 buy, 0x82/0x83 returns."""
        return self.CODE - 0x80

    @property
    def calculation_type(self) -> CalculationType:
        return OpenReceipt(receipt_type=self.receipt_type).calculation_type

    # the same reading as 0xFF46's, so the tap turns either into receipt items
    @property
    def name(self) -> str:
        return self.text.lstrip("/")  # a leading "//" only keeps the text off the paper

    @property
    def vat(self) -> VatRate:
        return TAX_GROUPS.get(self.taxes[0], VatRate.NONE)

    @property
    def total(self) -> int:
        return int((self.price * Decimal(self.quantity)).quantize(Decimal(1)))


@dataclass(frozen=True)
class Sale(Registration):
    CODE: ClassVar[int] = 0x80


@dataclass(frozen=True)
class Buy(Registration):
    CODE: ClassVar[int] = 0x81


@dataclass(frozen=True)
class ReturnSale(Registration):
    CODE: ClassVar[int] = 0x82


@dataclass(frozen=True)
class ReturnBuy(Registration):
    CODE: ClassVar[int] = 0x83


@dataclass(frozen=True)
class CloseReceipt(Request):
    """0x85: cash and three more payment sums, a discount (+) or surcharge (-) in 0.01 %, 4 taxes, text."""

    payments: tuple[int, int, int, int] = (0, 0, 0, 0)  # cash, payment types 2..4 (cards)
    discount: int = 0  # -9999..9999 hundredths of a percent of the receipt
    taxes: tuple[int, int, int, int] = (0, 0, 0, 0)
    text: str = ""
    password: int = ADMIN_PASSWORD
    CODE: ClassVar[int] = 0x85
    SIZE: ClassVar[int | None] = 70

    def data(self) -> bytes:
        if len(self.payments) != 4 or len(self.taxes) != 4:
            raise ValueError("0x85 takes exactly 4 payment sums and 4 tax bytes")
        if not -9999 <= self.discount <= 9999:
            raise ValueError(f"discount {self.discount} is outside -9999..9999 (0.01 %)")
        return (
            le(self.password, 4)
            + b"".join(le(p, 5) for p in self.payments)
            + self.discount.to_bytes(2, "little", signed=True)
            + bytes(self.taxes)
            + fixed_text(self.text)
        )

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        p = [from_le(data[4 + 5 * i : 9 + 5 * i]) for i in range(4)]
        discount = int.from_bytes(data[24:26], "little", signed=True)
        taxes = (data[26], data[27], data[28], data[29])
        return cls((p[0], p[1], p[2], p[3]), discount, taxes, read_text(data[30:70]), from_le(data[:4]))


# -- answers (the data after the error byte) ------------------------------------------------------
@dataclass(frozen=True)
class OperatorAnswer:
    """0x80..0x83, 0x88, 0x8D: the operator's number (1..30)."""

    operator: int = 30

    def encode(self) -> bytes:
        return bytes([self.operator])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 1:
            raise MalformedCommand("answer needs the operator's number")
        return cls(data[0])


@dataclass(frozen=True)
class CloseReceiptAnswer:
    operator: int
    change: int  # kopecks

    def encode(self) -> bytes:
        return bytes([self.operator]) + le(self.change, 5)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 6:
            raise MalformedCommand(f"0x85 answer needs 6 data bytes, got {len(data)}")
        return cls(data[0], from_le(data[1:6]))


# register modes (the low nibble of the mode byte); in mode 8 the high nibble is the receipt type
MODE_SHIFT_OPEN = 2
MODE_SHIFT_OVER_24H = 3
MODE_SHIFT_CLOSED = 4
MODE_RECEIPT_OPEN = 8


@dataclass(frozen=True)
class ShortStateAnswer:
    operator: int
    flags: int
    mode: int
    submode: int
    operations: int  # in the open receipt; sent as a low byte here and a high byte further on
    battery: int
    power: int
    fm_error: int = 0
    eklz_error: int = 0
    reserved: bytes = bytes(3)

    def encode(self) -> bytes:
        return (
            bytes([self.operator])
            + le(self.flags, 2)
            + bytes([self.mode, self.submode, self.operations & 0xFF, self.battery, self.power])
            + bytes([self.fm_error, self.eklz_error, self.operations >> 8])
            + self.reserved[:3].ljust(3, b"\x00")
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 14:
            raise MalformedCommand(f"0x10 answer needs 14 data bytes, got {len(data)}")
        return cls(
            data[0],
            from_le(data[1:3]),
            data[3],
            data[4],
            data[5] | data[10] << 8,
            data[6],
            data[7],
            data[8],
            data[9],
            data[11:14],
        )


@dataclass(frozen=True)
class FullStateAnswer:
    operator: int
    firmware_version: str  # two characters, e.g. "C2"
    firmware_build: int
    firmware_date: date
    hall_number: int
    document_number: int  # the register's own running document number (not the fiscal document's)
    flags: int
    mode: int
    submode: int
    port: int
    fm_version: str
    fm_build: int
    fm_date: date
    at: datetime
    fm_flags: int
    serial_number: int
    last_closed_shift: int
    free_fm_records: int
    registrations: int
    registrations_left: int
    inn: int

    def encode(self) -> bytes:
        return (
            bytes([self.operator])
            + _two_chars(self.firmware_version)
            + le(self.firmware_build, 2)
            + _encode_dmy(self.firmware_date)
            + bytes([self.hall_number])
            + le(self.document_number, 2)
            + le(self.flags, 2)
            + bytes([self.mode, self.submode, self.port])
            + _two_chars(self.fm_version)
            + le(self.fm_build, 2)
            + _encode_dmy(self.fm_date)
            + _encode_dmy(self.at.date())
            + bytes([self.at.hour, self.at.minute, self.at.second, self.fm_flags])
            + le(self.serial_number, 4)
            + le(self.last_closed_shift, 2)
            + le(self.free_fm_records, 2)
            + bytes([self.registrations, self.registrations_left])
            + le(self.inn, 6)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 46:
            raise MalformedCommand(f"0x11 answer needs 46 data bytes, got {len(data)}")
        try:
            day = _dmy(data[23:26])
            return cls(
                operator=data[0],
                firmware_version=data[1:3].decode("ascii"),
                firmware_build=from_le(data[3:5]),
                firmware_date=_dmy(data[5:8]),
                hall_number=data[8],
                document_number=from_le(data[9:11]),
                flags=from_le(data[11:13]),
                mode=data[13],
                submode=data[14],
                port=data[15],
                fm_version=data[16:18].decode("ascii"),
                fm_build=from_le(data[18:20]),
                fm_date=_dmy(data[20:23]),
                at=datetime(day.year, day.month, day.day, data[26], data[27], data[28]),
                fm_flags=data[29],
                serial_number=from_le(data[30:34]),
                last_closed_shift=from_le(data[34:36]),
                free_fm_records=from_le(data[36:38]),
                registrations=data[38],
                registrations_left=data[39],
                inn=from_le(data[40:46]),
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedCommand(f"0x11 answer: {exc}") from exc


@dataclass(frozen=True)
class DeviceTypeAnswer:
    device_type: int
    subtype: int
    protocol_version: int
    protocol_subversion: int
    model: int
    language: int  # 0 Russian, 1 English
    name: str

    def encode(self) -> bytes:
        head = [self.device_type, self.subtype, self.protocol_version, self.protocol_subversion, self.model]
        return bytes([*head, self.language]) + self.name.encode(PROTOCOL_ENCODING)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 6:
            raise MalformedCommand(f"0xFC answer needs at least 6 data bytes, got {len(data)}")
        name = read_text(data[6:])
        return cls(data[0], data[1], data[2], data[3], data[4], data[5], name)
