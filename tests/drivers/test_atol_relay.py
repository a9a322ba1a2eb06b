"""The ATOL proxy's HTTP relay against a raw-socket web server: what crosses the wire, byte for byte.

The upstream here is a plain TCP server that records every byte it receives and answers with canned raw
responses, so the tests see exactly what the proxy forwards (header case and order included) and can
send what a real web server might: chunked bodies, EOF-framed bodies, a closed keep-alive connection.
"""

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.atol.proxy import AtolProxyServer, ProxySettings
from sync.outbox import Outbox

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Odd-Case: Kept\r\nContent-Length: 2\r\n\r\n{}"


class RawUpstream:
    """Accepts connections; for each request-shaped chunk it reads, sends the next canned answer."""

    def __init__(self, answers: list[bytes], close_after_each: bool = False, hang_up_on: int = 0) -> None:
        self.answers = answers
        self.close_after_each = close_after_each
        self.hang_up_on = hang_up_on  # on every connection, close instead of answering its N-th request
        self.received: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer, served = b"", 0
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    if b"chunked" in head.lower():
                        if b"0\r\n\r\n" not in rest:
                            break
                        end = rest.index(b"0\r\n\r\n") + 5
                    else:
                        end = length
                    if len(rest) < end:
                        break
                    served += 1
                    if served == self.hang_up_on:
                        return  # the keep-alive race: the server closes as the request arrives
                    self.received.append(head + b"\r\n\r\n" + rest[:end])
                    buffer = rest[end:]
                    conn.sendall(self.answers.pop(0) if self.answers else OK)
                    if self.close_after_each:
                        return

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CheckoutService]:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        yield CheckoutService(outbox)


def proxy_for(
    service: CheckoutService, upstream_port: int, timeout_s: float = 5.0, allowed_hosts: tuple[str, ...] = ()
) -> AtolProxyServer:
    settings = ProxySettings(upstream=f"http://127.0.0.1:{upstream_port}", upstream_timeout_s=timeout_s)
    return AtolProxyServer(CheckoutHook(service), settings, port=0, allowed_hosts=allowed_hosts).start()


def exchange(port: int, raw: bytes, expect: int = 1) -> bytes:
    """Send raw bytes to the proxy and read until `expect` answers' worth arrived (or the peer closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        got = b""
        while got.count(b"HTTP/1.1 ") < expect or not got.endswith((b"{}", b"}", b"\r\n\r\n")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def port_of(server: AtolProxyServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_a_request_and_its_answer_cross_byte_for_byte(service: CheckoutService) -> None:
    upstream = RawUpstream([OK])
    server = proxy_for(service, upstream.port)
    try:
        raw = b"GET /api/v2/operations/queryDeviceInfo?x HTTP/1.1\r\nHOST: LoCaLhOsT\r\nX-POS:  a b \r\n\r\n"
        assert exchange(port_of(server), raw) == OK
        assert upstream.received == [raw]
    finally:
        server.stop()
        upstream.close()


def test_a_foreign_host_is_refused_and_nothing_reaches_the_web_server(service: CheckoutService) -> None:
    """DNS rebinding: a web page on the attacker's name resolved to 127.0.0.1 must not print receipts."""
    upstream = RawUpstream([])
    server = proxy_for(service, upstream.port, allowed_hosts=("till3.store12.lan",))
    port = port_of(server)
    task = b'{"uuid": "u-r", "request": [{"type": "sell", "items": []}]}'
    try:
        with httpx.Client(base_url=server.url) as browser:  # one keep-alive connection
            for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}", "127.0.0.1.nip.io"):
                refused = browser.post("/api/v2/requests", content=task, headers={"Host": host})
                assert refused.status_code == 403, host
                assert host in refused.json()["error"]["description"]
                assert "allowed_hosts" in refused.json()["error"]["description"]
            # the same connection goes on: an allowed name right after is relayed
            allowed = browser.get("/api/v2/requests/u-r", headers={"Host": f"localhost:{port}"})
            assert allowed.status_code == 200
        assert len(upstream.received) == 1
        assert b"u-r" in upstream.received[0]
        for host in (f"127.0.0.1:{port}", f"[::1]:{port}", "till3.store12.lan", "LOCALHOST"):
            raw = f"GET /api/v2/requests/x HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            assert exchange(port, raw) == OK, host
        http10_without_host = b"GET /api/v2/requests/x HTTP/1.0\r\n\r\n"
        assert exchange(port, http10_without_host).startswith(b"HTTP/1.1 403 ")
        assert len(upstream.received) == 5
    finally:
        server.stop()
        upstream.close()


def test_chunked_and_pipelined_requests_pass_in_order(service: CheckoutService) -> None:
    upstream = RawUpstream([OK.replace(b"{}", b"[]"), OK])
    server = proxy_for(service, upstream.port)
    try:
        chunked = b"POST /x HTTP/1.1\r\nHost: ::1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        plain = b"GET /y HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        got = exchange(port_of(server), chunked + plain, expect=2)
        assert got == OK.replace(b"{}", b"[]") + OK
        assert upstream.received == [chunked, plain]
    finally:
        server.stop()
        upstream.close()


def test_garbage_from_the_pos_gets_400_and_the_proxy_goes_on(service: CheckoutService) -> None:
    upstream = RawUpstream([])
    server = proxy_for(service, upstream.port)
    try:
        answer = exchange(port_of(server), b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert upstream.received == []
        with httpx.Client(base_url=server.url) as pos:
            assert pos.get("/after").status_code == 200
    finally:
        server.stop()
        upstream.close()


def test_a_dead_web_server_is_a_502_with_a_reason_not_a_hang(service: CheckoutService) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        dead_port = unused.getsockname()[1]
    server = proxy_for(service, dead_port)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as pos:
            answer = pos.get("/api/v2/operations/queryFnStatus")
        assert answer.status_code == 502
        assert answer.json()["error"]["description"] == "ATOL web server unavailable"
    finally:
        server.stop()


def test_a_silent_web_server_times_out_into_a_502(service: CheckoutService) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    server = proxy_for(service, silent.getsockname()[1], timeout_s=0.3)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as pos:
            assert pos.get("/api/v2/requests/u-1").status_code == 502
    finally:
        server.stop()
        silent.close()


def test_an_upstream_that_closes_between_requests_is_reconnected(service: CheckoutService) -> None:
    upstream = RawUpstream([OK, OK, OK], close_after_each=True)
    server = proxy_for(service, upstream.port)
    try:
        with httpx.Client(base_url=server.url) as pos:  # one keep-alive connection from the POS
            for _ in range(3):
                assert pos.get("/api/v2/operations/queryShiftStatus").status_code == 200
        assert upstream.connections == 3
    finally:
        server.stop()
        upstream.close()


def test_an_answer_framed_by_closing_the_connection_reaches_the_pos_whole(service: CheckoutService) -> None:
    eof_framed = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b'{"results": []}'
    upstream = RawUpstream([eof_framed], close_after_each=True)
    server = proxy_for(service, upstream.port)
    try:
        with httpx.Client(base_url=server.url) as pos:
            answer = pos.get("/api/v2/requests/u-2")
        assert answer.json() == {"results": []}
    finally:
        server.stop()
        upstream.close()


def test_a_kept_alive_connection_closed_as_a_request_arrives_is_retried(service: CheckoutService) -> None:
    upstream = RawUpstream([OK, OK, OK], hang_up_on=2)
    server = proxy_for(service, upstream.port)
    try:
        with httpx.Client(base_url=server.url) as pos:
            assert pos.get("/api/v2/operations/queryFnStatus").status_code == 200
            assert pos.get("/api/v2/operations/queryFnStatus").status_code == 200  # not a 502
        assert upstream.connections == 2
        assert len(upstream.received) == 2  # answered once each: nothing was acted on twice
    finally:
        server.stop()
        upstream.close()


def test_a_pos_that_expects_100_continue_hears_it_before_sending_its_body(service: CheckoutService) -> None:
    upstream = RawUpstream([OK])
    server = proxy_for(service, upstream.port)
    try:
        head = b"POST /api/v2/x HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as sock:
            sock.sendall(head)
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # no waiting out a timeout
            sock.sendall(b"{}")
            answer = b""
            while not answer.endswith(b"{}"):
                answer += sock.recv(65536)
        assert answer.endswith(OK)
        assert upstream.received == [head + b"{}"]  # forwarded as it came
    finally:
        server.stop()
        upstream.close()
