"""The FNS QR string printed on every receipt: t=20200927T1427&s=52.00&fn=...&i=...&fp=...&n=1."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from receipts.ffd import CalculationType
from receipts.money import format_rubles, parse_rubles


class InvalidQr(ValueError):
    """The text is not an FNS receipt QR string."""


@dataclass(frozen=True, slots=True)
class FnsQr:
    issued_at: datetime
    total: int  # kopecks
    fn_serial: str
    fd_number: int
    fpd: int
    calculation_type: CalculationType


def build_qr(qr: FnsQr) -> str:
    stamp = qr.issued_at.strftime("%Y%m%dT%H%M")
    if qr.issued_at.second:
        stamp += qr.issued_at.strftime("%S")
    return (
        f"t={stamp}&s={format_rubles(qr.total)}&fn={qr.fn_serial}"
        f"&i={qr.fd_number}&fp={qr.fpd}&n={int(qr.calculation_type)}"
    )


def parse_qr(text: str) -> FnsQr:
    fields = dict(parse_qsl(text.strip(), keep_blank_values=True))
    missing = [k for k in ("t", "s", "fn", "i", "fp", "n") if not fields.get(k)]
    if missing:
        raise InvalidQr(f"FNS QR string lacks {', '.join(missing)}: {text!r}")
    stamp = fields["t"]
    try:
        fmt = "%Y%m%dT%H%M%S" if len(stamp) == 15 else "%Y%m%dT%H%M"
        issued_at = datetime.strptime(stamp, fmt)
        return FnsQr(
            issued_at=issued_at,
            total=parse_rubles(fields["s"]),
            fn_serial=_digits(fields["fn"], "fn"),
            fd_number=int(_digits(fields["i"], "i")),
            fpd=int(_digits(fields["fp"], "fp")),
            calculation_type=CalculationType(int(fields["n"])),
        )
    except ValueError as exc:
        raise InvalidQr(f"bad FNS QR string {text!r}: {exc}") from exc


def _digits(value: str, name: str) -> str:
    if not value.isdigit():
        raise ValueError(f"{name} must be digits, got {value!r}")
    return value
