"""What the tap learns from the frames it relays: one receipt's life and the register's identity.

Pure: frames in (from the POS, from the device), events out. The tap turns events into hook calls.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.hook import ClosedSale
from drivers.shtrih import commands as c
from receipts import (
    BuyerContact,
    CalculationType,
    FiscalData,
    InvalidContact,
    InvalidReceipt,
    Item,
    Payment,
    PaymentKind,
    parse_contact,
)
from receipts.ffd import Tag

log = logging.getLogger(__name__)


# Z-report (0x41), open shift (0xE0), FN shift commands (0xFF0B open, 0xFF41..0xFF43 open/close): the
# shift number and receipt count the tap keeps are stale after these.
SHIFT_CHANGING = {b"\x41", b"\xe0", b"\xff\x0b", b"\xff\x41", b"\xff\x42", b"\xff\x43"}


@dataclass(frozen=True)
class Opened:
    sale_id: str


@dataclass(frozen=True)
class PosContact:
    sale_id: str
    contact: BuyerContact


@dataclass(frozen=True)
class Fiscalized:
    sale_id: str
    sale: ClosedSale


@dataclass(frozen=True)
class Cancelled:
    sale_id: str


Event = Opened | PosContact | Fiscalized | Cancelled


@dataclass
class RegisterIdentity:
    fn_serial: str | None = None
    registration_number: str | None = None
    shift_number: int | None = None
    receipts_in_shift: int | None = None

    @property
    def complete(self) -> bool:
        return self.fn_serial is not None and self.registration_number is not None


@dataclass
class OpenSale:
    sale_id: str
    calculation_type: CalculationType
    items: list[c.OperationV2] = field(default_factory=list)
    contact_from_pos: bool = False
    contact_injected: bool = False


class SaleTracker:
    """Follows requests and their answers. Answers carry the command code, so pairing is by code."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self.identity = RegisterIdentity()
        self.sale: OpenSale | None = None
        self._requests: dict[int, c.Request] = {}  # last request per command code, waiting for its answer

    def needs_contact(self) -> bool:
        sale = self.sale
        return sale is not None and not sale.contact_from_pos and not sale.contact_injected

    def from_pos(self, payload: bytes) -> list[Event]:
        if payload[:1] in SHIFT_CHANGING or payload[:2] in SHIFT_CHANGING:
            self.identity.shift_number = self.identity.receipts_in_shift = None  # ask again at the next close
        try:
            request = c.decode_request(payload)
        except c.MalformedCommand as exc:
            log.warning("POS sent a command the tap cannot read: %s", exc)
            return []
        if request is None:
            return []
        self._requests[request.CODE] = request
        if isinstance(request, c.SendTlv) and request.tlv.tag == Tag.BUYER_CONTACT and self.sale:
            self.sale.contact_from_pos = True
            try:
                contact = parse_contact(request.tlv.value.decode("cp866"))
            except (InvalidContact, UnicodeDecodeError):
                return []
            return [PosContact(self.sale.sale_id, contact)]
        return []

    def from_device(self, payload: bytes) -> list[Event]:
        try:
            answer = c.Answer.decode(payload)
        except c.MalformedCommand:
            return []
        request = self._requests.pop(answer.code, None)
        if not answer.ok:
            return []
        return self.answered(request, answer) if request is not None else []

    def answered(self, request: c.Request, answer: c.Answer) -> list[Event]:
        """Also used for the tap's own requests (identity queries) in the pre-close window."""
        try:
            return self._answered(request, answer)
        except c.MalformedCommand as exc:
            log.warning("device answer the tap cannot read: %s", exc)
            return []

    def _answered(self, request: c.Request, answer: c.Answer) -> list[Event]:
        ident = self.identity
        match request:
            case c.OpenReceipt():
                self.sale = OpenSale(self._new_id(), request.calculation_type)
                return [Opened(self.sale.sale_id)]
            case c.OperationV2() if self.sale:
                self.sale.items.append(request)
            case c.CancelReceipt() if self.sale:
                sale, self.sale = self.sale, None
                return [Cancelled(sale.sale_id)]
            case c.CloseReceiptV2() if self.sale:
                sale, self.sale = self.sale, None
                closed = self._closed(sale, request, c.CloseAnswer.decode(answer.data))
                if ident.receipts_in_shift is not None:
                    ident.receipts_in_shift += 1
                return [Fiscalized(sale.sale_id, closed)] if closed else []
            case c.FnStatus():
                ident.fn_serial = c.FnStatusAnswer.decode(answer.data).fn_serial
            case c.FiscalizationResult():
                ident.registration_number = c.FiscalizationAnswer.decode(answer.data).registration_number
            case c.ShiftParams():
                shift = c.ShiftAnswer.decode(answer.data)
                ident.shift_number, ident.receipts_in_shift = shift.shift_number, shift.receipt_number
        return []

    def _closed(self, sale: OpenSale, close: c.CloseReceiptV2, answer: c.CloseAnswer) -> ClosedSale | None:
        ident = self.identity
        if not ident.complete:
            log.error(
                "receipt FD %s printed but the register's FN serial is unknown: not queued", answer.fd_number
            )
            return None
        try:
            items = tuple(Item(i.name or "—", i.price, i.quantity, i.total, i.vat) for i in sale.items)
            payments = [Payment(PaymentKind.CASH, close.payments[0])] if close.payments[0] else []
            if card := sum(close.payments[1:]):
                payments.append(Payment(PaymentKind.CARD, card))
            fiscal = FiscalData(
                fn_serial=ident.fn_serial or "",
                fd_number=answer.fd_number,
                fpd=answer.fpd,
                registration_number=ident.registration_number or "",
                shift_number=ident.shift_number or 0,
                receipt_number=(ident.receipts_in_shift or 0) + 1,
                issued_at=answer.issued_at,
                calculation_type=sale.calculation_type,
            )
            return ClosedSale(fiscal, items, tuple(payments), sum(i.total for i in items))
        except (InvalidReceipt, ValueError) as exc:
            log.error("receipt FD %s printed but its data is not a valid receipt: %s", answer.fd_number, exc)
            return None
