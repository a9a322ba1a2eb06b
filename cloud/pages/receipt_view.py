"""What the buyer's page shows of one receipt, as the law lists it (54-FZ art. 4.7): the seller, the store,
the calculation type, items with VAT, totals per VAT rate, payment forms, the fiscal data and the FNS QR
string. Plain data from the stored receipt and the accounts' settings; no I/O."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from cloud.accounts.legal import TAXATION
from cloud.accounts.models import Store, Tenant
from receipts import Receipt
from receipts.ffd import CalculationType, PaymentKind, VatRate
from receipts.qr import FnsQr, build_qr

CALCULATION = {
    CalculationType.SALE: "Приход",
    CalculationType.SALE_RETURN: "Возврат прихода",
    CalculationType.EXPENSE: "Расход",
    CalculationType.EXPENSE_RETURN: "Возврат расхода",
}
VAT_LABEL = {
    VatRate.VAT20: "НДС 20%",
    VatRate.VAT10: "НДС 10%",
    VatRate.VAT0: "НДС 0%",
    VatRate.VAT120: "НДС 20/120",
    VatRate.VAT110: "НДС 10/110",
    VatRate.NONE: "Без НДС",
}
# The share of a VAT-inclusive total that is VAT: 20/120, 10/110.
_VAT_SHARE = {
    VatRate.VAT20: Decimal(20) / 120,
    VatRate.VAT10: Decimal(10) / 110,
    VatRate.VAT120: Decimal(20) / 120,
    VatRate.VAT110: Decimal(10) / 110,
}
PAYMENT = {PaymentKind.CASH: "Наличными", PaymentKind.CARD: "Безналичными"}
DEFAULT_TIME_ZONE = "Europe/Moscow"
DEFAULT_FFD = "1.05"


def vat_amount(total: int, rate: VatRate) -> int | None:
    """Kopecks of VAT inside `total`; None when the item carries no VAT (0 % has VAT 0.00)."""
    if rate is VatRate.NONE:
        return None
    share = _VAT_SHARE.get(rate, Decimal(0))
    return int((total * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class ItemLine:
    name: str
    price: int
    quantity: str
    total: int
    discount: int  # kopecks off price × quantity; 0 when none
    vat_label: str
    vat: int | None


@dataclass(frozen=True, slots=True)
class VatTotal:
    label: str
    base: int  # the items' total at this rate
    vat: int | None


@dataclass(frozen=True, slots=True)
class ReceiptView:
    seller: str
    inn: str
    address: str
    place: str
    title: str  # "Кассовый чек. Приход"
    items: list[ItemLine]
    discount: int
    vat_totals: list[VatTotal]
    total: int
    payments: list[tuple[str, int]]
    taxation: str
    cashier: str
    shift: int
    number: int
    registration: str
    fn: str
    fd: int
    fpd: int
    ffd: str
    issued: str  # "23.11.2026 14:27"
    day: str  # "2026-11-23": the same local date, for file names
    zone: str  # "Asia/Yekaterinburg, UTC+05:00"
    qr: str
    contact: str  # masked


def local_time(issued_at: datetime, zone: ZoneInfo) -> datetime:
    """The receipt's time on the store's clock, naive as a receipt prints it. A naive time is already the
    register's local time (tag 1012); one with an offset is moved into the store's zone."""
    if issued_at.tzinfo is None:
        return issued_at
    return issued_at.astimezone(zone).replace(tzinfo=None)


def _quantity(q: Decimal) -> str:
    text = format(q.normalize(), "f")
    return text.replace(".", ",")


def receipt_view(receipt: Receipt, tenant: Tenant, store: Store) -> ReceiptView:
    zone_name = store.time_zone or DEFAULT_TIME_ZONE
    zone = ZoneInfo(zone_name)
    f = receipt.fiscal
    issued = local_time(f.issued_at, zone)
    offset = issued.replace(tzinfo=zone).strftime("%z")
    items: list[ItemLine] = []
    per_rate: dict[VatRate, int] = {}
    for i in receipt.items:
        full = int((i.price * i.quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        items.append(
            ItemLine(
                name=i.name,
                price=i.price,
                quantity=_quantity(i.quantity),
                total=i.total,
                discount=max(full - i.total, 0),
                vat_label=VAT_LABEL[i.vat],
                vat=vat_amount(i.total, i.vat),
            )
        )
        per_rate[i.vat] = per_rate.get(i.vat, 0) + i.total
    vat_totals = [VatTotal(VAT_LABEL[r], base, vat_amount(base, r)) for r, base in per_rate.items()]
    extra = receipt.extra
    return ReceiptView(
        seller=tenant.legal_name or tenant.name,
        inn=tenant.inn or "",
        address=store.address or "",
        place=store.settlement_place or store.address or store.name,
        title=f"Кассовый чек. {CALCULATION[f.calculation_type]}",
        items=items,
        discount=sum(i.discount for i in items),
        vat_totals=vat_totals,
        total=receipt.total,
        payments=[(PAYMENT.get(p.kind, str(p.kind)), p.amount) for p in receipt.payments],
        taxation=TAXATION.get(tenant.taxation or "", ""),
        cashier=extra.get("cashier", ""),
        shift=f.shift_number,
        number=f.receipt_number,
        registration=f.registration_number,
        fn=f.fn_serial,
        fd=f.fd_number,
        fpd=f.fpd,
        ffd=extra.get("ffd_version", DEFAULT_FFD),
        issued=issued.strftime("%d.%m.%Y %H:%M"),
        day=issued.strftime("%Y-%m-%d"),
        zone=f"{zone_name}, UTC{offset[:3]}:{offset[3:]}",
        qr=build_qr(FnsQr(issued, receipt.total, f.fn_serial, f.fd_number, f.fpd, f.calculation_type)),
        contact=receipt.contact.masked if receipt.contact else "",
    )
