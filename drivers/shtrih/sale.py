"""What the tap learns from the frames it relays: one receipt's life and the register's identity.

Pure: frames in (from the POS, from the device), events out. The tap turns events into hook calls.
Both command sets: a receipt opens with 0x8D (or with its first legacy registration, 0x80..0x83), takes
items as 0xFF46 or 0x80..0x83, and closes with 0xFF45 (whose answer carries FD and FPD: fiscalized at
once) or with the legacy 0x85 (whose answer carries only the change: the receipt is `printed` until the
tap has read its FD and FPD from the fiscal storage, 0xFF01 then 0xFF0A).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from drivers.hook import ClosedSale
from drivers.shtrih import commands as c
from drivers.shtrih import legacy
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
from receipts.money import spread

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
    items: list[c.OperationV2 | legacy.Registration] = field(default_factory=list)
    contact_from_pos: bool = False
    contact_injected: bool = False


@dataclass
class PrintedSale:
    """Closed by 0x85 on the register; its FD and FPD are still to be read from the fiscal storage."""

    sale: OpenSale
    payments: tuple[int, ...]  # cash first, then the electronic ones
    receipt_number: int  # in the shift, as counted when it closed
    failed_reads: int = 0
    busy_reads: int = 0


READ_ATTEMPTS = 3  # reads of a printed receipt's FD/FPD before the tap gives up on queuing it
BUSY_READS = 1200  # ... while the register says it is still printing: one a POS frame or a quiet 50 ms


class SaleTracker:
    """Follows requests and their answers. Answers carry the command code, so pairing is by code."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self.identity = RegisterIdentity()
        self.sale: OpenSale | None = None
        self.printed: PrintedSale | None = None
        self.last_fd: int | None = None  # the fiscal storage's last document, as 0xFF01 last said
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
                contact = parse_contact(request.tlv.value.decode(c.FFD_ENCODING))
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

    def read_failed(self, *, busy: bool = False) -> None:
        """The tap could not read the printed receipt's FD/FPD this time; after a few tries it gives up.
        A register still busy printing it is tried much longer (each try is one short exchange)."""
        printed = self.printed
        if printed is None:
            return
        if busy:
            printed.busy_reads += 1
        else:
            printed.failed_reads += 1
        if printed.failed_reads >= READ_ATTEMPTS or printed.busy_reads >= BUSY_READS:
            self.printed = None
            log.error(
                "receipt %s printed but its FD and FPD could not be read from the register: not queued",
                printed.sale.sale_id,
            )

    def _answered(self, request: c.Request, answer: c.Answer) -> list[Event]:
        ident = self.identity
        match request:
            case c.OpenReceipt():
                self.sale = OpenSale(self._new_id(), request.calculation_type)
                return [Opened(self.sale.sale_id)]
            case c.OperationV2() if self.sale:
                self.sale.items.append(request)
            case legacy.Registration():
                opened: list[Event] = []
                if self.sale is None:  # a legacy registration opens its own receipt
                    self.sale = OpenSale(self._new_id(), request.calculation_type)
                    opened.append(Opened(self.sale.sale_id))
                self.sale.items.append(request)
                return opened
            case c.CancelReceipt() if self.sale:
                sale, self.sale = self.sale, None
                return [Cancelled(sale.sale_id)]
            case c.CloseReceiptV2() if self.sale:
                sale, self.sale = self.sale, None
                done = c.CloseAnswer.decode(answer.data)
                closed = self._closed(sale, request.payments, done.fd_number, done.fpd, done.issued_at)
                if ident.receipts_in_shift is not None:
                    ident.receipts_in_shift += 1
                return [Fiscalized(sale.sale_id, closed)] if closed else []
            case legacy.CloseReceipt() if self.sale:
                if self.printed is not None:  # its reads failed; from now on the last FD is another one
                    log.error(
                        "receipt %s printed but its FD/FPD were not read before the next close: not queued",
                        self.printed.sale.sale_id,
                    )
                sale, self.sale = self.sale, None
                self.printed = PrintedSale(sale, request.payments, (ident.receipts_in_shift or 0) + 1)
                if ident.receipts_in_shift is not None:
                    ident.receipts_in_shift += 1
            case c.FnStatus():
                status = c.FnStatusAnswer.decode(answer.data)
                ident.fn_serial, self.last_fd = status.fn_serial, status.last_fd
            case c.FindDocument() if self.printed and request.fd_number == self.last_fd:
                return self._document_read(self.printed, c.ReceiptDocument.decode(answer.data))
            case c.FiscalizationResult():
                ident.registration_number = c.FiscalizationAnswer.decode(answer.data).registration_number
            case c.ShiftParams():
                shift = c.ShiftAnswer.decode(answer.data)
                ident.shift_number, ident.receipts_in_shift = shift.shift_number, shift.receipt_number
        return []

    def _document_read(self, printed: PrintedSale, doc: c.ReceiptDocument) -> list[Event]:
        """The register's last fiscal document, read right after a legacy close: that receipt's FD/FPD."""
        self.printed = None
        sale = printed.sale
        if doc.operation != sale.calculation_type:
            log.error(
                "last document FD %s is operation %s, not the receipt just closed (%s): not queued",
                doc.fd_number,
                doc.operation,
                int(sale.calculation_type),
            )
            return []
        items_total = sum(item.total for item in sale.items)
        if doc.total != items_total:
            # 0x85's discount (or surcharge) is on the whole receipt; the register spreads it over the
            # items of the fiscal document, so the queued receipt does the same and adds up to its total.
            log.info(
                "receipt FD %s: a receipt discount of %s kopecks spread over its %d items",
                doc.fd_number,
                items_total - doc.total,
                len(sale.items),
            )
        closed = self._closed(
            sale, printed.payments, doc.fd_number, doc.fpd, doc.at, printed.receipt_number, doc.total
        )
        return [Fiscalized(sale.sale_id, closed)] if closed else []

    def _closed(
        self,
        sale: OpenSale,
        payments: tuple[int, ...],
        fd_number: int,
        fpd: int,
        issued_at: datetime,
        receipt_number: int | None = None,
        total: int | None = None,
    ) -> ClosedSale | None:
        """`total`: the register's own, when it differs from the items' (a receipt discount to spread)."""
        ident = self.identity
        if not ident.complete:
            log.error("receipt FD %s printed but the register's FN serial is unknown: not queued", fd_number)
            return None
        try:
            sums = [i.total for i in sale.items]
            if total is not None:
                sums = spread(sums, total)
            lines = zip(sale.items, sums, strict=True)
            items = tuple(Item(i.name or "—", i.price, i.quantity, line, i.vat) for i, line in lines)
            paid = [Payment(PaymentKind.CASH, payments[0])] if payments[0] else []
            if card := sum(payments[1:]):
                paid.append(Payment(PaymentKind.CARD, card))
            fiscal = FiscalData(
                fn_serial=ident.fn_serial or "",
                fd_number=fd_number,
                fpd=fpd,
                registration_number=ident.registration_number or "",
                shift_number=ident.shift_number or 0,
                receipt_number=receipt_number or (ident.receipts_in_shift or 0) + 1,
                issued_at=issued_at,
                calculation_type=sale.calculation_type,
            )
            return ClosedSale(fiscal, items, tuple(paid), sum(i.total for i in items))
        except (InvalidReceipt, ValueError) as exc:
            log.error("receipt FD %s printed but its data is not a valid receipt: %s", fd_number, exc)
            return None
