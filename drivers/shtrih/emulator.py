"""A Shtrih-M register emulator: the commands a sale needs, a journal of fiscal documents, a real link layer.

Both command sets sell: the FFD 1.2 one (0x8D, 0xFF46, 0xFF0C, 0xFF45) and the legacy FFD 1.05 one (0x10,
0x11, 0xFC, 0x8D, 0x80..0x83, 0xFF0C, 0x85), in any mix, as a real register accepts them; the fiscal
storage's status and documents (0xFF01, 0xFF0A) answer for receipts closed either way.

`EmulatedRegister` answers command payloads (values in, values out); `DeviceLink` speaks the link layer
over bytes (ENQ → NAK/ACK, frame → ACK + answer, NAK on a bad LRC); `PtyDevice` and `TcpDevice` put it
on a pseudo-terminal (the POS or tap opens the slave path like a COM port) or a TCP port (the
`socket://host:port` pyserial URL, as Shtrih-M's network models).
"""

import contextlib
import logging
import os
import random
import select
import socket
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from drivers.shtrih import commands as c
from drivers.shtrih import legacy
from drivers.shtrih.link import ACK, ENQ, NAK, STX, Control, Frame, LinkParser, encode_frame, split_payload
from receipts import CalculationType
from receipts.ffd import Tag

log = logging.getLogger(__name__)
OPERATOR = legacy.OperatorAnswer(30).encode()  # the operator's number in answers: the system administrator
FLAGS = 0x0292  # receipt paper present (bits 1 and 7), sums with 2 decimals (bit 4), receipt lever down (9)
# type 0 (a cash register), protocol 1.13; the model number is the emulator's own
SUBMODE_PRINTING = 5
STATE_QUERIES = (legacy.ShortState, legacy.FullState, legacy.DeviceType)  # answered while printing too
DEVICE_TYPE = legacy.DeviceTypeAnswer(0, 0, 1, 13, 0xF0, 0, "ШТРИХ-М-01Ф (эмулятор)")


@dataclass
class PrintedDocument:
    fd_number: int
    fpd: int
    at: datetime
    operation: CalculationType
    total: int
    items: list[c.OperationV2 | legacy.Registration]
    tlvs: list[c.Tlv]
    payments: tuple[int, ...]

    @property
    def buyer_contact(self) -> str | None:
        for tlv in self.tlvs:
            if tlv.tag == Tag.BUYER_CONTACT:
                return tlv.value.decode(c.FFD_ENCODING)
        return None


@dataclass
class OpenDocument:
    receipt_type: int  # 0x8D's: 0 sale, 1 buy, 2 sale return, 3 buy return
    operation: CalculationType
    items: list[c.OperationV2 | legacy.Registration] = field(default_factory=list)
    tlvs: list[c.Tlv] = field(default_factory=list)


@dataclass
class EmulatedRegister:
    fn_serial: str = "9999078900012345"
    registration_number: str = "0000000001012345"
    inn: str = "7701234567"
    last_fd: int = 10
    shift_open: bool = True
    shift_over_24h: bool = False  # open for more than 24 h: 0x10 says mode 3, sales are refused
    shift_number: int = 1
    receipts_in_shift: int = 0
    unsent: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().replace(second=0, microsecond=0))
    rng: random.Random = field(default_factory=random.Random)
    journal: list[PrintedDocument] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)  # every command code received, in order
    fail_next: int = 0  # answer the next command with this error code (0x50, 0x6B, ...)
    # commands this register's firmware does not know (answered 0x37), e.g. an old FFD 1.05 one without
    # 0xFF40 shift parameters or 0xFF39 OFD exchange status
    unsupported: frozenset[int] = frozenset()
    printing_after_close: int = 0  # commands after each close answered 0x50 "still printing" (not states)
    _printing: int = 0
    serial_number: int = 12345678  # the register's own (not the FN's) serial, as 0x11 reports it
    inn_number: int = 7701234567
    document_number: int = 100  # the register's running document counter (0x11)
    _open: OpenDocument | None = None

    def handle(self, payload: bytes) -> bytes:
        """One command payload in, one answer payload out."""
        code = split_payload(payload)[0]
        try:
            request = c.decode_request(payload)
        except c.MalformedCommand:
            return c.Answer(code, 0x33).encode()
        self.commands.append(code)
        if self.fail_next:
            error, self.fail_next = self.fail_next, 0
            return c.Answer(code, error).encode()
        if self._printing and not isinstance(request, STATE_QUERIES):
            self._printing -= 1
            return c.Answer(code, 0x50).encode()
        if request is None or code in self.unsupported:
            return c.Answer(code, 0x37).encode()
        error, data = self._execute(request)
        return c.Answer(code, error, data if error == 0 else b"").encode()

    def _execute(self, request: c.Request) -> tuple[int, bytes]:
        match request:
            case c.OpenReceipt():
                if self._open is not None:
                    return 0x4A, b""
                if not self.shift_open:
                    return 0x61, b""
                self._open = OpenDocument(request.receipt_type, request.calculation_type)
                return 0, OPERATOR
            case c.OperationV2():
                if self._open is None:
                    return 0x5E, b""
                self._open.items.append(request)
                return 0, b""
            case legacy.Registration():
                return self._register(request)
            case c.SendTlv():
                if self._open is None:
                    return 0x02, b""
                self._open.tlvs.append(request.tlv)
                return 0, b""
            case c.CloseReceiptV2():
                error, change, doc = self._close(request.payments)
                if doc is None:
                    return error, b""
                return 0, c.CloseAnswer(change, doc.fd_number, doc.fpd, doc.at).encode()
            case legacy.CloseReceipt():
                error, change, doc = self._close(request.payments, request.discount)
                return error, legacy.CloseReceiptAnswer(30, change).encode() if doc else b""
            case c.CancelReceipt():
                self._open = None
                return 0, OPERATOR
            case legacy.ShortState():
                return 0, self._short_state().encode()
            case legacy.FullState():
                return 0, self._full_state().encode()
            case legacy.DeviceType():
                return 0, DEVICE_TYPE.encode()
            case c.CutReceipt():
                return 0, bytes([30])
            case c.FnStatus():
                status = c.FnStatusAnswer(
                    3, 0, 0, self.shift_open, 0, self.clock(), self.fn_serial, self.last_fd
                )
                return 0, status.encode()
            case c.ShiftParams():
                return 0, c.ShiftAnswer(self.shift_open, self.shift_number, self.receipts_in_shift).encode()
            case c.FiscalizationResult():
                registration = c.FiscalizationAnswer(
                    datetime(2024, 1, 10, 9, 0), self.inn, self.registration_number, 1, 0, 1, 123456789
                )
                return 0, registration.encode()
            case c.ExchangeStatus():
                first = self.journal[-self.unsent] if self.unsent and self.journal else None
                exchange = c.ExchangeAnswer(
                    1 if self.unsent else 0,
                    False,
                    self.unsent,
                    first.fd_number if first else 0,
                    first.at if first else None,
                )
                return 0, exchange.encode()
            case c.FindDocument():
                doc = next((d for d in self.journal if d.fd_number == request.fd_number), None)
                if doc is None:
                    return 0x08, b""
                found = c.ReceiptDocument(doc.at, doc.fd_number, doc.fpd, int(doc.operation), doc.total)
                return 0, found.encode()
        return 0x37, b""

    def _register(self, request: legacy.Registration) -> tuple[int, bytes]:
        """0x80..0x83 open a receipt of their own kind when none is open, and fit only that kind."""
        if self._open is None:
            if not self.shift_open:
                return 0x61, b""
            self._open = OpenDocument(request.receipt_type, request.calculation_type)
        elif self._open.operation is not request.calculation_type:
            return 0x5E, b""
        self._open.items.append(request)
        return 0, OPERATOR

    def _close(self, payments: tuple[int, ...], discount: int = 0) -> tuple[int, int, PrintedDocument | None]:
        """(error, change, the printed document); `discount` in 0.01 % of the receipt (0x85)."""
        if self._open is None:
            return 0x5E, 0, None
        opened = self._open
        total = sum(item.total for item in opened.items)
        total -= int((Decimal(total) * discount / 10_000).quantize(Decimal(1)))
        if total == 0:
            return 0x8E, 0, None
        paid = sum(payments)
        if paid < total:
            return 0x45, 0, None
        self._open = None
        self.last_fd += 1
        self.document_number += 1
        self.receipts_in_shift += 1
        self.unsent += 1
        doc = PrintedDocument(
            self.last_fd,
            self.rng.randrange(10**8, 2**32 - 1),
            self.clock(),
            opened.operation,
            total,
            opened.items,
            opened.tlvs,
            tuple(payments),
        )
        self.journal.append(doc)
        self._printing = self.printing_after_close
        return 0, paid - total, doc

    def _mode(self) -> int:
        if self._open is not None:
            return legacy.MODE_RECEIPT_OPEN | self._open.receipt_type << 4
        if not self.shift_open:
            return legacy.MODE_SHIFT_CLOSED
        return legacy.MODE_SHIFT_OVER_24H if self.shift_over_24h else legacy.MODE_SHIFT_OPEN

    def _short_state(self) -> legacy.ShortStateAnswer:
        operations = len(self._open.items) if self._open else 0
        submode = SUBMODE_PRINTING if self._printing else 0
        return legacy.ShortStateAnswer(30, FLAGS, self._mode(), submode, operations, 0x9C, 0xBC)

    def _full_state(self) -> legacy.FullStateAnswer:
        return legacy.FullStateAnswer(
            operator=30,
            firmware_version="C2",
            firmware_build=58341,
            firmware_date=date(2024, 3, 1),
            hall_number=1,
            document_number=self.document_number,
            flags=FLAGS,
            mode=self._mode(),
            submode=0,
            port=0,
            fm_version="C2",
            fm_build=58341,
            fm_date=date(2024, 3, 1),
            at=self.clock(),
            fm_flags=0x01,
            serial_number=self.serial_number,
            last_closed_shift=self.shift_number - 1 if self.shift_open else self.shift_number,
            free_fm_records=2000,
            registrations=1,
            registrations_left=29,
            inn=self.inn_number,
        )


class DeviceLink:
    """The device side of the link layer: bytes from the host in, bytes to send back out."""

    def __init__(self, register: EmulatedRegister) -> None:
        self.register = register
        self.silent = False  # a powered-off or unplugged register: reads everything, answers nothing
        self._parser = LinkParser()
        self._unacked: bytes | None = None  # answer frame the host has not ACKed yet

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for token in self._parser.feed(data):
            if self.silent:
                continue
            if isinstance(token, Control):
                if token.byte == ENQ:
                    out += bytes([ACK]) + self._unacked if self._unacked is not None else bytes([NAK])
                elif token.byte == ACK:
                    self._unacked = None
                elif self._unacked is not None:  # NAK: the host wants the answer again
                    out += self._unacked
            elif isinstance(token, Frame):
                answer = encode_frame(self.register.handle(token.payload))
                self._unacked = answer
                out.append(ACK)
                out += answer
            elif token.raw[:1] == bytes([STX]):  # a frame with a bad LRC or cut short: resend it
                out.append(NAK)
        return bytes(out)


class PtyDevice:
    """The emulator behind a pseudo-terminal: open `path` with pyserial like a COM port."""

    def __init__(self, link: DeviceLink) -> None:
        self.link = link
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: every byte as sent (0x11, 0x0D ...)
        tty.setraw(self._master)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="shtrih-emulator-pty", daemon=True)

    def start(self) -> "PtyDevice":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue  # no reader on the slave side yet (EIO)
            reply = self.link.receive(data)
            if reply:
                os.write(self._master, reply)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpDevice:
    """The emulator on 127.0.0.1:port; one client at a time, as the register's Ethernet port."""

    def __init__(self, link: DeviceLink, host: str = "127.0.0.1", port: int = 0) -> None:
        self.link = link
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://{host}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="shtrih-emulator-tcp", daemon=True)

    def start(self) -> "TcpDevice":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.1)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = self.link.receive(data)
                    if reply:
                        conn.sendall(reply)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()
