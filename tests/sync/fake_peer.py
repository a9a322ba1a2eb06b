"""Fakes of the cloud as a network peer, for answers the real cloud cannot give on demand.

`FakeCloud` is a small FastAPI app speaking wire protocol v1: it answers from a script (500, 503/429 with
Retry-After, slow answers, odd batch results) and otherwise accepts every receipt, storing each key once.
`RudePeer` is a raw TCP server that reads a request and then drops, resets or truncates the connection.
"""

import asyncio
import gzip
import json
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sync.protocol import HEARTBEAT_PATH, PREFIX

Receipts = list[dict[str, Any]]
# A scripted answer: given the batch's receipts, the response to send, or a number of seconds to stall
# before answering normally, or None to behave normally.
Reply = Callable[[Receipts], Response | float | None]


def key_of(wire: dict[str, Any]) -> str:
    fiscal = wire["fiscal"]
    return f"{fiscal['fn_serial']}:{fiscal['fd_number']}:{fiscal['fpd']}"


def status(code: int, retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return lambda _receipts: JSONResponse({"detail": f"scripted {code}"}, status_code=code, headers=headers)


def slow(seconds: float) -> Reply:
    """Answers normally, too late: the caller's timeout fires first."""

    return lambda _receipts: seconds


@dataclass
class FakeCloud:
    script: deque[Reply] = field(default_factory=deque)
    received: Counter[str] = field(default_factory=Counter)  # key -> times it reached us (resends count)
    stored: dict[str, int] = field(default_factory=dict)  # key -> index in storage order (each once)
    batches: list[int] = field(default_factory=list)  # size of every batch that reached us
    authorizations: list[str] = field(default_factory=list)
    encodings: list[str] = field(default_factory=list)  # Content-Encoding of every batch
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    faults: int = 0
    # Keys the cloud chokes on whenever they are in a batch, and how it answers then (400/422/500).
    poison: dict[str, int] = field(default_factory=dict)
    # Head office revoked the register: every request gets the cloud's 403 `register_revoked`.
    revoked: bool = False
    refused: list[str] = field(default_factory=list)  # path of every request refused as revoked
    # A body larger than this (decompressed) is refused with 413, as a cloud or its proxy limits bodies.
    max_body: int | None = None
    served: Any = None  # the tests' `Served` handle, to stop and restart this peer
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(PREFIX + "/stores/{store_id}/receipts/batch")
        async def batch(store_id: int, request: Request) -> Response:
            if self.revoked:
                return self._revoked(request)
            raw = await request.body()
            encoding = request.headers.get("content-encoding", "")
            self.encodings.append(encoding)
            plain = gzip.decompress(raw) if encoding == "gzip" else raw
            if self.max_body is not None and len(plain) > self.max_body:
                self.faults += 1
                return JSONResponse({"detail": "request body too large", "code": "payload_too_large"}, 413)
            body = json.loads(plain)
            receipts: Receipts = body["receipts"]
            self.batches.append(len(receipts))
            self.authorizations.append(request.headers.get("authorization", ""))
            choked = [self.poison[key_of(r)] for r in receipts if key_of(r) in self.poison]
            if choked:
                self.faults += 1
                return JSONResponse({"detail": "scripted poison"}, status_code=choked[0])
            if self.script:
                answer = self.script.popleft()(receipts)
                if isinstance(answer, float | int):
                    self.faults += 1
                    await asyncio.sleep(answer)
                elif answer is not None:
                    self.faults += 1
                    return answer
            accepted = []
            for index, wire in enumerate(receipts):
                key = key_of(wire)
                self.received[key] += 1
                status_ = "duplicate" if key in self.stored else "stored"
                self.stored.setdefault(key, len(self.stored))
                accepted.append({"index": index, "key": key, "status": status_})
            return JSONResponse({"accepted": accepted, "rejected": []})

        @app.post(HEARTBEAT_PATH)
        async def heartbeat(request: Request) -> Response:
            if self.revoked:
                return self._revoked(request)
            self.heartbeats.append(await request.json())
            now = datetime.now(UTC)
            return JSONResponse({"cloud_time": now.isoformat(), "clock_skew_s": 0.0})

        return app

    def _revoked(self, request: Request) -> Response:
        self.refused.append(request.url.path)
        body = {"detail": "this register was revoked by head office", "code": "register_revoked"}
        return JSONResponse(body, status_code=403)


class RudePeer:
    """Accepts connections, reads the request head, then misbehaves: 'close', 'reset' or 'truncate'."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                except OSError:
                    continue
                if self.mode == "truncate":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b'Content-Length: 500\r\n\r\n{"acc'
                    )
                elif self.mode == "reset":
                    # SO_LINGER with a zero timeout turns close() into a TCP RST.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @contextmanager
    def serving(self) -> Iterator["RudePeer"]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)
            self._sock.close()
