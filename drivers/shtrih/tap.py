"""The Shtrih-M serial tap: relays every byte between the POS's COM port and the register, unchanged.

It reads both directions as frames (`SaleTracker`) and turns what it sees into `SaleHook` calls. It
speaks up in two windows, both while the POS waits, both bounded:
- before the POS's close command (0xFF45, or the legacy 0x85): the tap holds that frame (never alters or
  drops it), sends the buyer's contact as TLV 1008 (0xFF0C) when the POS did not, asks the register what
  it needs for the fiscal data (FN serial, registration number, shift), then forwards the POS's frame;
- after a legacy close, whose answer carries only the change: once the POS has acknowledged that answer
  (its ACK, or failing that its next frame, or a quiet line), the tap reads the fiscal storage's last
  document (0xFF01 status, then 0xFF0A by that number) for FD, FPD and time before the POS's next byte.
A malformed frame, a bad LRC or a silent device is logged and relayed as is.
"""

import logging
import os
import select
import selectors
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import serial

from drivers.hook import SaleHook
from drivers.shtrih import commands as c
from drivers.shtrih import legacy
from drivers.shtrih.errors import DeviceError
from drivers.shtrih.link import (
    ACK,
    STX,
    Frame,
    LinkClient,
    LinkError,
    LinkParser,
    LinkTimeouts,
    Malformed,
    lrc,
    no_delay,
    read_burst,
)
from drivers.shtrih.sale import Cancelled, Event, Fiscalized, Opened, PosContact, SaleTracker
from receipts import BuyerContact

log = logging.getLogger(__name__)
CLOSE_V2 = (0xFF, 0x45)
CLOSE_LEGACY = legacy.CloseReceipt.CODE
# "still printing the previous command", "waiting for the continue-printing command": the register is busy
# with the receipt just closed, not failing; the read is tried again and does not count as a failure
BUSY = frozenset({0x50, 0x58})


@dataclass(frozen=True)
class TapSettings:
    ask_timeout_s: float = 30.0  # how long the cashier's popup may stay open
    close_wait_s: float = 0.3  # at the close, how much longer to wait for the cashier's answer
    hold_timeout_s: float = 0.2  # a held frame the POS never finishes is relayed as it is
    read_after_s: float = 1.0  # a POS that never acknowledges a legacy close's answer: read FD/FPD anyway
    link: LinkTimeouts = field(
        default_factory=lambda: LinkTimeouts(ack_s=0.3, answer_s=2.0, byte_s=0.05, retries=2)
    )


class TapCore:
    """The relay logic without threads: bytes in from either side, bytes out through two writers.

    `read_device(timeout)` returns device bytes during the tap's own exchanges in the pre-close window.
    """

    def __init__(
        self,
        hook: SaleHook,
        to_device: Callable[[bytes], object],
        to_pos: Callable[[bytes], object],
        read_device: Callable[[float], bytes],
        settings: TapSettings | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.hook = hook
        self.settings = settings or TapSettings()
        self._to_device = to_device
        self._to_pos = to_pos
        self._read_device = read_device
        # What the POS did to a sale (its own contact, the close, a cancel) reaches the hook in the order the
        # tap saw it, on one thread: a POS's 0xFF0C and its close come microseconds apart, and the close
        # must not overtake the contact. Opening and asking the cashier blocks (up to the ask timeout) and
        # must not wait behind the last receipt's durable write, so it runs beside them, on a pool; the
        # hook opens a sale late when an event comes first.
        self._events = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tap-events")
        self._asks = executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="tap-ask")
        self.tracker = SaleTracker(lambda: "shtrih-" + uuid.uuid4().hex[:12])
        self._pos_parser = LinkParser()
        self._dev_parser = LinkParser()
        self._held = b""  # POS bytes of a frame whose fate is not decided yet
        self._held_since = 0.0
        self._pass_left = 0  # bytes of the current POS frame to relay without looking
        self._answer: Future[BuyerContact | None] | None = None
        self._printed_since: float | None = None  # when the register's answer to a legacy close passed
        self.stray_device_bytes = b""  # device bytes read in the window that were not ours
        self.own_bytes = 0  # bytes the tap itself sent to the register (its window exchanges)

    # -- relay ---------------------------------------------------------------------------------------
    def from_pos(self, data: bytes) -> None:
        buf, self._held = self._held + data, b""
        out = bytearray()
        i = 0
        while i < len(buf):
            if self._pass_left:
                n = min(self._pass_left, len(buf) - i)
                out += buf[i : i + n]
                i += n
                self._pass_left -= n
                continue
            if buf[i] == ACK and self.tracker.printed is not None:  # the POS took the legacy close's answer
                out.append(ACK)
                i += 1
                self._send_pos_bytes(bytes(out))
                out.clear()
                self._read_fiscal_data()
                continue
            if buf[i] != STX:
                out.append(buf[i])
                i += 1
                continue
            if self.tracker.printed is not None:  # a POS that sends on without acknowledging
                self._send_pos_bytes(bytes(out))
                out.clear()
                self._read_fiscal_data()
            decision = self._frame_start(buf[i:])
            if decision is None:  # not enough bytes yet to decide: hold them
                self._hold(buf[i:])
                break
            if decision == "window":
                frame = buf[i : i + buf[i + 1] + 3]
                self._send_pos_bytes(bytes(out))
                out.clear()
                self._pre_close_window()
                out += frame
                i += len(frame)
                continue
            self._pass_left = buf[i + 1] + 3 if len(buf) > i + 1 else 1
        self._send_pos_bytes(bytes(out))

    def _frame_start(self, tail: bytes) -> str | None:
        """At an STX: None = wait for more bytes; 'pass'; or 'window' (a complete, valid close frame)."""
        if len(tail) < 3:
            return None
        length = tail[1]
        if self.tracker.sale is None or length < 1:
            return "pass"
        if tail[2] == CLOSE_V2[0]:
            if len(tail) < 4:
                return None
            if length < 2 or tail[3] != CLOSE_V2[1]:
                return "pass"
        elif tail[2] != CLOSE_LEGACY:
            return "pass"
        if len(tail) < length + 3:
            return None
        frame = tail[: length + 3]
        return "window" if lrc(frame[1:-1]) == frame[-1] else "pass"

    def _hold(self, data: bytes) -> None:
        if not self._held:
            self._held_since = time.monotonic()
        self._held = data

    def tick(self) -> None:
        """Called when the line is quiet: a frame the POS never finished goes on as it is; a legacy close
        whose answer the POS never acknowledged still gets its FD/FPD read."""
        since = self._printed_since
        quiet = since is not None and time.monotonic() - since >= self.settings.read_after_s
        if quiet and self.tracker.printed is not None and not self._held:
            self._read_fiscal_data()
        if not self._held or time.monotonic() - self._held_since < self.settings.hold_timeout_s:
            return
        held, self._held = self._held, b""
        log.warning("POS frame cut short (%d bytes): relayed as is", len(held))
        self._pass_left = 0
        self._send_pos_bytes(held)
        for token in self._pos_parser.flush():
            log.warning("POS → register: %s, relayed as is", getattr(token, "reason", token))

    def _send_pos_bytes(self, data: bytes) -> None:
        if not data:
            return
        self._to_device(data)
        for token in self._pos_parser.feed(data):
            if isinstance(token, Frame):
                self._dispatch(self.tracker.from_pos(token.payload))
            elif isinstance(token, Malformed):
                log.warning("POS → register: %s (%d bytes), relayed as is", token.reason, len(token.raw))

    def from_device(self, data: bytes) -> None:
        self._to_pos(data)
        for token in self._dev_parser.feed(data):
            if isinstance(token, Frame):
                printed = self.tracker.printed
                self._dispatch(self.tracker.from_device(token.payload))
                if self.tracker.printed is not None and self.tracker.printed is not printed:
                    self._printed_since = time.monotonic()
            elif isinstance(token, Malformed):
                log.warning("register → POS: %s (%d bytes), relayed as is", token.reason, len(token.raw))

    # -- the window before the close ------------------------------------------------------------------
    def _pre_close_window(self) -> None:
        client = LinkClient(_DeviceView(self), self.settings.link)
        try:
            if self.tracker.needs_contact():
                contact = self._await_contact()
                if contact is not None:
                    self._send_contact(client, contact)
            ident = self.tracker.identity
            if ident.fn_serial is None:
                self._exchange(client, c.FnStatus())
            if ident.registration_number is None:
                self._exchange(client, c.FiscalizationResult())
            if ident.shift_number is None:  # then counted per close, until a shift command passes
                self._exchange(client, c.ShiftParams())
        except LinkError as exc:
            log.error("register did not answer the tap before the close: %s; the POS's close goes on", exc)
        self.stray_device_bytes += bytes(client._rx)

    def _send_contact(self, client: LinkClient, contact: BuyerContact) -> None:
        """Tag 1008 into the open receipt; a refused one is not counted as sent (tried again before the
        POS's next close)."""
        sent = self._exchange(client, c.SendTlv(c.buyer_contact_tlv(contact))).ok
        if sent and self.tracker.sale is not None:
            self.tracker.sale.contact_injected = True
            log.info("buyer contact sent to the register", extra={"contact": contact.masked})

    # -- the read after a legacy close -------------------------------------------------------------------
    def _read_fiscal_data(self) -> None:
        """The receipt 0x85 just printed is the fiscal storage's last document: its number from the FN
        status (0xFF01), then the document itself (0xFF0A) for FD, FPD and time."""
        printed = self.tracker.printed
        client = LinkClient(_DeviceView(self), self.settings.link)
        busy = False
        try:
            answer = self._exchange(client, c.FnStatus())
            if answer.ok:
                last_fd = c.FnStatusAnswer.decode(answer.data).last_fd
                answer = self._exchange(client, c.FindDocument(last_fd))
            busy = answer.error in BUSY
        except (LinkError, c.MalformedCommand) as exc:
            log.error("register did not give the legacy receipt's FD/FPD: %s; trying again", exc)
        self.stray_device_bytes += bytes(client._rx)
        if printed is not None and self.tracker.printed is printed:
            self.tracker.read_failed(busy=busy)
        if self.tracker.printed is None:
            self._printed_since = None

    def _exchange(self, client: LinkClient, request: c.Request) -> c.Answer:
        """One command of the tap's own; what the register answered (refusals are logged)."""
        answer = c.Answer.decode(client.execute(request.encode(), enq_first=False))
        if not answer.ok:
            log.warning("register refused the tap's command: %s", DeviceError(answer.code, answer.error))
            return answer
        self._dispatch(self.tracker.answered(request, answer))
        return answer

    def _await_contact(self) -> BuyerContact | None:
        if self._answer is None:
            return None
        try:
            return self._answer.result(timeout=self.settings.close_wait_s)
        except FutureTimeout:
            log.info("no answer from the cashier before the close: receipt goes on without a contact")
            return None
        except Exception:
            log.exception("asking for the contact failed: receipt goes on without a contact")
            return None

    # -- hook calls (never on the relay thread's critical path) ---------------------------------------
    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            match event:
                case Opened(sale_id=sale_id):
                    self._answer = self._asks.submit(self._open_and_ask, sale_id)
                case PosContact(sale_id=sale_id, contact=contact):
                    self._events.submit(self._guard, self.hook.contact_from_pos, sale_id, contact)
                case Fiscalized(sale_id=sale_id, sale=sale):
                    self._answer = None
                    self._events.submit(self._guard, self.hook.sale_fiscalized, sale_id, sale)
                case Cancelled(sale_id=sale_id):
                    self._answer = None
                    self._events.submit(self._guard, self.hook.sale_cancelled, sale_id)

    def _open_and_ask(self, sale_id: str) -> BuyerContact | None:
        self._guard(self.hook.sale_started, sale_id)
        return self._guard(self.hook.ask_contact, sale_id, self.settings.ask_timeout_s)

    @staticmethod
    def _guard(call: Callable[..., object], *args: object) -> "BuyerContact | None":
        try:
            result = call(*args)
        except Exception:
            log.exception("hook %s failed; the till goes on", getattr(call, "__name__", call))
            return None
        return result if isinstance(result, BuyerContact) else None

    def close(self) -> None:
        """Every event the tap saw reaches the hook (printed receipts are queued); waiting asks are not."""
        self._asks.shutdown(wait=False, cancel_futures=True)
        self._events.shutdown(wait=True)
        self._asks.shutdown(wait=True)


class _DeviceView:
    """The device as a channel for the tap's own exchanges in the window."""

    def __init__(self, core: TapCore) -> None:
        self._core = core

    def write(self, data: bytes) -> object:
        self._core.own_bytes += len(data)
        return self._core._to_device(data)

    def read_some(self, timeout: float) -> bytes:
        return self._core._read_device(timeout)


def selectable(port: serial.SerialBase) -> bool:
    """A POSIX file descriptor (COM port, pty, socket://) that select() can wait on; not Windows COM ports."""
    if os.name != "posix":
        return False
    try:
        return isinstance(port.fileno(), int)
    except (AttributeError, NotImplementedError, OSError, ValueError):  # loop:// and friends
        return False


class SerialTap:
    """Two pyserial ports relayed both ways. URLs: COM3, /dev/ttyS0, socket://host:port.

    On POSIX (`relay="select"`, chosen by default when both ports have file descriptors) one thread waits
    on both ports with a selector and reads their descriptors directly; in the pre-close window it reads
    the register's answers itself. That is the fewest wake-ups per byte: no second thread, no lock handed
    back and forth, none of pyserial's per-read timeout bookkeeping.

    Elsewhere (`relay="threads"`: Windows COM ports cannot be selected on) one thread per direction reads
    its port and writes the other one itself, under one condition lock that keeps the analysis in order.
    In the window the POS's thread talks to the register and waits on the condition (releasing the lock);
    the device's thread then hands the register's bytes to the window instead of to the POS.
    """

    def __init__(
        self,
        pos_url: str,
        device_url: str,
        hook: SaleHook,
        settings: TapSettings | None = None,
        baudrate: int = 115200,
        relay: str = "auto",
    ) -> None:
        self.pos = serial.serial_for_url(pos_url, baudrate=baudrate, timeout=0.05)
        self.device = serial.serial_for_url(device_url, baudrate=baudrate, timeout=0.05)
        no_delay(self.pos)
        no_delay(self.device)
        if relay == "auto":
            relay = "select" if selectable(self.pos) and selectable(self.device) else "threads"
        if relay not in ("select", "threads"):
            raise ValueError(f"relay must be 'auto', 'select' or 'threads', not {relay!r}")
        self.relay = relay
        self._cv = threading.Condition()  # guards the core and the window's state (threads relay)
        self._in_window = False
        self._window_rx = bytearray()  # the register's bytes during the window, for the tap's exchanges
        self._stop = threading.Event()
        if relay == "select":
            read_device = self._read_device_directly
            to_device, to_pos = self._fd_writer(self.device), self._fd_writer(self.pos)
            self._threads = [threading.Thread(target=self._select_loop, name="tap-relay", daemon=True)]
        else:
            read_device = self._read_device_in_window
            to_device, to_pos = self.device.write, self.pos.write
            self._threads = [
                threading.Thread(target=self._pos_loop, name="tap-pos", daemon=True),
                threading.Thread(target=self._device_loop, name="tap-dev", daemon=True),
            ]
        self.core = TapCore(hook, to_device, to_pos, read_device, settings)

    def start(self) -> "SerialTap":
        for thread in self._threads:
            thread.start()
        log.info(
            "serial tap relaying",
            extra={"pos": self.pos.name, "device": self.device.name, "relay": self.relay},
        )
        return self

    def _read(self, side: str, port: serial.SerialBase) -> bytes | None:
        """Whatever arrived (b'' after the port's timeout); None when the tap is stopping."""
        try:
            return read_burst(port)
        except (serial.SerialException, OSError, TypeError):
            if self._stop.is_set():
                return None
            log.exception("%s port failed; retrying", side)
            time.sleep(0.5)
            return b""

    # -- POSIX: one thread, one selector ---------------------------------------------------------------
    def _select_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.device.fileno(), selectors.EVENT_READ, "device")
            selector.register(self.pos.fileno(), selectors.EVENT_READ, "pos")
            while not self._stop.is_set():
                ready = selector.select(timeout=0.05)
                if not ready:
                    self._analyse(self.core.tick)  # may read a legacy receipt's FD/FPD from the device
                    self._relay_stray()
                # the register's bytes first: what it said before the POS spoke reaches the POS first
                for key, _ in sorted(ready, key=lambda event: event[0].data != "device"):
                    data = self._read_fd(key.data, key.fd)
                    if not data:
                        continue
                    if key.data == "device":
                        self._relay_device(data)
                        continue
                    self._analyse(self.core.from_pos, data)  # may run a window: it reads the device
                    self._relay_stray()

    def _relay_stray(self) -> None:
        """The register's bytes read in a window that were not an answer to the tap go on to the POS."""
        stray, self.core.stray_device_bytes = self.core.stray_device_bytes, b""
        if stray:
            self._relay_device(stray)

    @staticmethod
    def _fd_writer(port: serial.SerialBase) -> Callable[[bytes], None]:
        """Write straight to the descriptor: pyserial's write() adds a select() after every write, and a
        system call costs tens of microseconds on a virtual machine. The rest of a partial write goes
        through pyserial, which waits for the port to drain."""
        fd = port.fileno()

        def write(data: bytes) -> None:
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                written = 0
            if written < len(data):
                port.write(data[written:])

        return write

    def _read_fd(self, side: str, fd: int) -> bytes:
        """What the descriptor holds now (b'' when another read took it first)."""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError:
            if not self._stop.is_set():
                log.exception("%s port failed; retrying", side)
                self._stop.wait(0.5)
            return b""
        if not data and not self._stop.is_set():  # a socket:// peer that hung up, a vanished device
            log.error("%s port closed by the other end; retrying", side)
            self._stop.wait(0.5)
        return data

    def _read_device_directly(self, timeout: float) -> bytes:
        """In the window, on the relay thread: the register's answer to the tap's own command."""
        fd = self.device.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return b""
        return self._read_fd("device", fd)

    def _analyse(self, step: Callable[..., None], *args: bytes) -> None:
        try:
            step(*args)
        except Exception:  # the relay must outlive any bug in the analysis
            log.exception("tap analysis failed; bytes were relayed")

    # -- elsewhere: a thread per direction ---------------------------------------------------------------
    def _pos_loop(self) -> None:
        while not self._stop.is_set():
            data = self._read("pos", self.pos)
            if data is None:
                return
            with self._cv:
                if data:  # may run the window (and wait, releasing the lock)
                    self._analyse(self.core.from_pos, data)
                else:
                    self._analyse(self.core.tick)
                self._in_window = False
                stray = self.core.stray_device_bytes + bytes(self._window_rx)
                self.core.stray_device_bytes, self._window_rx = b"", bytearray()
                if stray:  # the register's bytes that were not an answer to the tap go on to the POS
                    self._relay_device(stray)

    def _device_loop(self) -> None:
        while not self._stop.is_set():
            data = self._read("device", self.device)
            if data is None:
                return
            if not data:
                continue
            with self._cv:
                if self._in_window:
                    self._window_rx += data
                    self._cv.notify_all()
                else:
                    self._relay_device(data)

    def _relay_device(self, data: bytes) -> None:
        try:
            self.core.from_device(data)
        except Exception:
            log.exception("tap analysis failed; bytes were relayed")

    def _read_device_in_window(self, timeout: float) -> bytes:
        """Called by the core in the window, on the POS's thread, with the lock held."""
        self._in_window = True
        deadline = time.monotonic() + timeout
        while not self._window_rx:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b""
            self._cv.wait(remaining)
        data = bytes(self._window_rx)
        self._window_rx.clear()
        return data

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.core.close()
        self.pos.close()
        self.device.close()
