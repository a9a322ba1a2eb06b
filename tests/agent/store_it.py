"""What the doctor and status tests share: a register's config, a real cloud, a scripted loopback peer for
answers the cloud cannot give on demand (a revoked register, a clock far off), the agent served on its
configured port, a cashier UI's long poll, and a tiny real filesystem for a full disk."""

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlmodel import Session

from agent.bootstrap import Agent, create_app
from agent.cli import main
from agent.config import load_config
from agent.enrollment import TOKEN_NAME
from agent.local_schemas import SECRET_FILE, SECRET_HEADER
from pos_plugin.contract import CloseRequest
from receipts import Receipt
from receipts.examples import REFERENCE_SALE
from sync.protocol import HEARTBEAT_PATH
from tests.support.live_server import free_port, live_server
from tests.sync.conftest import Cloud


@dataclass
class Register:
    config: Path
    data_dir: Path
    port: int

    def run(self, *argv: str) -> int:
        return main(["--config", str(self.config), *argv])

    def enroll_at(self, url: str, token: str, register_id: int = 1) -> None:
        """As `echeck-agent enroll` leaves it, for a cloud that cannot enroll (a scripted peer)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "enrollment.json").write_text(
            f'{{"cloud_url": "{url}", "tenant_id": 1, "store_id": 1, "register_id": {register_id}}}'
        )
        secrets = self.data_dir / "secrets"
        secrets.mkdir(exist_ok=True)
        (secrets / f"{TOKEN_NAME}.secret").write_text(token)


def make_register(tmp_path: Path, extra: str = "", data_dir: Path | None = None) -> Register:
    data_dir = data_dir or tmp_path / "data"
    port = free_port()
    config = tmp_path / "agent.toml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[agent]\ndata_dir = "{data_dir}"\ncredentials = "file"\nlisten_port = {port}\n{extra}',
        encoding="utf-8",
    )
    return Register(config, data_dir, port)


def enrollment_code(cloud: Cloud) -> str:
    from cloud.db.engine import make_engine
    from cloud.fleet import enrollment

    engine = make_engine(cloud.database_url)
    try:
        with Session(engine) as session:
            return enrollment.issue_enrollment_code(session, cloud.store_id).code
    finally:
        engine.dispose()


@contextmanager
def agent_running(register: Register) -> Iterator[Agent]:
    agent = Agent(load_config(register.config, env={}))
    with live_server(create_app(agent), port=register.port):
        yield agent


@contextmanager
def ui_polling(register: Register) -> Iterator[None]:
    """A cashier UI's long poll (the secret from the data dir), until the block ends."""
    secret = (register.data_dir / SECRET_FILE).read_text().strip()
    stop = threading.Event()
    first = threading.Event()

    def poll() -> None:
        url = f"http://127.0.0.1:{register.port}/agent/v1/prompts"
        since = -1
        with httpx.Client(headers={SECRET_HEADER: secret}, timeout=10) as client:
            while not stop.is_set():
                since = (
                    client.get(url, params={"since": since, "wait": 0.5}).raise_for_status().json()["version"]
                )
                first.set()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    assert first.wait(15), "the UI's first poll was not answered"
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class Peer:
    """A cloud that answers the heartbeat from a script: `answer` is (status, body)."""

    answer: tuple[int, dict[str, object]]
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.post(HEARTBEAT_PATH)
        def heartbeat() -> JSONResponse:
            status, body = self.answer
            return JSONResponse(body, status_code=status)

        return app


@contextmanager
def peer(status: int, body: dict[str, object]) -> Iterator[Peer]:
    fake = Peer((status, body))
    with live_server(fake.app()) as url:
        fake.url = url
        yield fake


@contextmanager
def enrolled_behind(tmp_path: Path, answer: tuple[int, dict[str, object]]) -> Iterator[Register]:
    """A register enrolled at a scripted peer that answers heartbeats with `answer`."""
    with peer(*answer) as cloud_peer:
        register = make_register(tmp_path)
        register.enroll_at(cloud_peer.url, "tok")
        yield register


def corrupt_outbox(register: Register) -> Path:
    register.data_dir.mkdir(parents=True, exist_ok=True)
    path = register.data_dir / "outbox.sqlite3"
    path.write_bytes(b"this is not a database" * 200)
    return path


def revoked() -> tuple[int, dict[str, object]]:
    return 403, {"detail": "this register was revoked by head office", "code": "register_revoked"}


def clock_off(seconds: float) -> tuple[int, dict[str, object]]:
    return 200, {"cloud_time": datetime.now(UTC).isoformat(), "clock_skew_s": seconds}


@contextmanager
def full_disk(where: Path) -> Iterator[Path]:
    """A 1 MB tmpfs at `where`, filled up: a real full disk (root mounts it; the tests run as root)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the tests run as root): {mounted.stderr.decode()}")
    try:
        with (where / "filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def reference_receipt() -> Receipt:
    sale = CloseRequest.model_validate(REFERENCE_SALE)
    return Receipt(
        fiscal=sale.fiscal, items=tuple(sale.items), payments=tuple(sale.payments), total=sale.total
    )


@contextmanager
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate nobody trusts (openssl makes it), on loopback."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
    ]
    subprocess.run([*request, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
