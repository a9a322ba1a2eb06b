"""Shtrih-M link layer: STX LEN CMD DATA LRC frames, ENQ/ACK/NAK, a stream parser and a host-side client.

Frames are values (`encode_frame`, `LinkParser`); the client talks through any `ByteChannel` (a pyserial
port, a TCP socket via pyserial's socket://, or the tap's own view of the device) and gives up after
bounded timeouts and retries: a silent device is an error, never a hang.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

STX, ENQ, ACK, NAK = 0x02, 0x05, 0x06, 0x15
CONTROL = frozenset({ENQ, ACK, NAK})


class LinkError(RuntimeError):
    """The device did not answer, or answered with frames that never passed the LRC check."""


def lrc(body: bytes) -> int:
    """XOR of LEN, CMD and DATA bytes."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def encode_frame(payload: bytes) -> bytes:
    """payload = CMD (1 or 2 bytes) + DATA; LEN counts them and must fit a byte."""
    if not 1 <= len(payload) <= 255:
        raise ValueError(f"frame payload must be 1..255 bytes, not {len(payload)}")
    body = bytes([len(payload)]) + payload
    return bytes([STX]) + body + bytes([lrc(body)])


def command_code(payload: bytes) -> int:
    """0xFFxx commands carry two bytes (big-endian), the others one."""
    if payload[0] == 0xFF and len(payload) >= 2:
        return 0xFF00 | payload[1]
    return payload[0]


def split_payload(payload: bytes) -> tuple[int, bytes]:
    code = command_code(payload)
    return code, payload[2:] if code > 0xFF else payload[1:]


@dataclass(frozen=True, slots=True)
class Control:
    byte: int


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes

    @property
    def code(self) -> int:
        return command_code(self.payload)

    @property
    def raw(self) -> bytes:
        return encode_frame(self.payload)


@dataclass(frozen=True, slots=True)
class Malformed:
    raw: bytes
    reason: str


Token = Control | Frame | Malformed


class LinkParser:
    """Turns a byte stream (either direction) into tokens; never raises, never loses a byte.

    Every input byte ends up in exactly one token's bytes (a frame's, a control byte, or garbage), except
    the bytes of an unfinished frame, which `pending` shows and `flush()` turns into garbage.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[Token]:
        self._buf += data
        return list(self._drain())

    def flush(self) -> list[Token]:
        """The line went quiet inside a frame: what we hold is garbage."""
        if not self._buf:
            return []
        raw, self._buf = bytes(self._buf), bytearray()
        return [Malformed(raw, "frame cut short")]

    def _drain(self) -> Iterator[Token]:
        buf = self._buf
        while buf:
            first = buf[0]
            if first in CONTROL:
                del buf[0]
                yield Control(first)
                continue
            if first != STX:
                end = next((i for i, b in enumerate(buf) if b == STX or b in CONTROL), len(buf))
                raw = bytes(buf[:end])
                del buf[:end]
                yield Malformed(raw, "bytes outside a frame")
                continue
            if len(buf) < 2:
                return
            length = buf[1]
            if length == 0:
                del buf[:2]
                yield Malformed(bytes([STX, 0]), "frame with zero length")
                continue
            if len(buf) < length + 3:
                return
            raw = bytes(buf[: length + 3])
            del buf[: length + 3]
            if lrc(raw[1:-1]) != raw[-1]:
                yield Malformed(raw, "bad LRC")
            else:
                yield Frame(raw[2:-1])


class ByteChannel(Protocol):
    def write(self, data: bytes) -> object: ...

    def read_some(self, timeout: float) -> bytes:
        """Whatever arrived within `timeout` seconds (b'' when nothing did)."""


class SerialChannel:
    """A pyserial port (serial_for_url: a COM port, /dev/tty*, socket://host:port, loop://) as a channel."""

    def __init__(self, port: "SerialLike") -> None:
        self.port = port
        no_delay(port)

    def write(self, data: bytes) -> object:
        self.port.write(data)
        self.port.flush()
        return None

    def read_some(self, timeout: float) -> bytes:
        if self.port.timeout != timeout:  # a COM port's timeout setter reconfigures the device (termios)
            self.port.timeout = timeout
        return read_burst(self.port)


def read_burst(port: "SerialLike", limit: int = 4096) -> bytes:
    """What has arrived: waits up to the port's timeout for a first byte, then takes the rest at once.

    pyserial's socket:// `in_waiting` says 0 or 1 ("something is there"), not how many bytes: read by it,
    a frame would come a byte per call. There the rest is read with a zero timeout instead (that setter
    configures nothing); a COM port, a pty or loop:// report the count.
    """
    first = port.read(1)
    if not first:
        return b""
    from serial.urlhandler import protocol_socket

    if isinstance(port, protocol_socket.Serial):
        saved = port.timeout
        port.timeout = 0
        try:
            return first + bytes(port.read(limit))
        finally:
            port.timeout = saved
    waiting = port.in_waiting
    return first + port.read(min(waiting, limit)) if waiting else first


def no_delay(port: object) -> None:
    """pyserial's socket:// leaves Nagle on: one-byte ACKs would wait for the peer's delayed ACK (40 ms)."""
    sock = getattr(port, "_socket", None)
    if sock is not None:
        import socket

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SerialLike(Protocol):
    timeout: float | None

    def write(self, data: bytes) -> object: ...
    def flush(self) -> None: ...
    def read(self, size: int = 1) -> bytes: ...

    @property
    def in_waiting(self) -> int: ...


@dataclass(frozen=True)
class LinkTimeouts:
    ack_s: float = 0.5  # the device ACKs a frame at once
    answer_s: float = 5.0  # printing may take a few seconds before the answer frame
    byte_s: float = 0.1  # between bytes of one frame
    retries: int = 3


class LinkClient:
    """The host side of the link: send a command payload, get the answer payload (CMD + error + data)."""

    def __init__(self, channel: ByteChannel, timeouts: LinkTimeouts | None = None) -> None:
        self.channel = channel
        self.timeouts = timeouts or LinkTimeouts()
        self._rx = bytearray()

    def execute(self, payload: bytes, *, enq_first: bool = True) -> bytes:
        t = self.timeouts
        if enq_first:
            self._settle()
        frame = encode_frame(payload)
        for _attempt in range(t.retries):
            self.channel.write(frame)
            reply = self._read_control(t.ack_s)
            if reply == ACK:
                return self._read_answer(command_code(payload))
            # NAK (bad LRC on the wire) or silence: send the frame again
        raise LinkError(f"command 0x{command_code(payload):X}: device did not acknowledge the frame")

    def _settle(self) -> None:
        """ENQ until the device says it is idle (NAK); an ACK means an old answer waits: read and drop it."""
        t = self.timeouts
        for _attempt in range(t.retries):
            self._rx.clear()
            self.channel.write(bytes([ENQ]))
            reply = self._read_control(t.ack_s)
            if reply == NAK:
                return
            if reply == ACK:
                try:
                    self._read_frame(t.answer_s)
                    self.channel.write(bytes([ACK]))
                except LinkError:
                    pass
        raise LinkError("device is silent: no answer to ENQ")

    def _read_control(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._rx:
                byte = self._rx.pop(0)
                if byte in (ACK, NAK):
                    return byte
                continue  # noise before the device's ACK is not ours to keep
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._rx += self.channel.read_some(remaining)

    def _read_answer(self, code: int) -> bytes:
        t = self.timeouts
        for _attempt in range(t.retries):
            try:
                answer = self._read_frame(t.answer_s)
            except _BadFrame:
                self.channel.write(bytes([NAK]))  # the device sends the answer again
                continue
            self.channel.write(bytes([ACK]))
            if command_code(answer) != code:
                raise LinkError(f"command 0x{code:X}: the device answered command 0x{command_code(answer):X}")
            return answer
        raise LinkError(f"command 0x{code:X}: no valid answer frame from the device")

    def _read_frame(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            while self._rx and self._rx[0] != STX:
                self._rx.pop(0)
            if len(self._rx) >= 2 and len(self._rx) >= self._rx[1] + 3:
                length = self._rx[1]
                raw = bytes(self._rx[: length + 3])
                del self._rx[: length + 3]
                if length == 0 or lrc(raw[1:-1]) != raw[-1]:
                    raise _BadFrame()
                return raw[2:-1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError("device did not send its answer in time")
            # once a frame started, the rest must follow within the inter-byte timeout
            wait = min(remaining, self.timeouts.byte_s) if self._rx else remaining
            chunk = self.channel.read_some(wait)
            if not chunk and self._rx:
                self._rx.clear()
                raise _BadFrame()
            self._rx += chunk


class _BadFrame(LinkError):
    pass
