"""`echeck-cloud serve` as a real process on a free port, for tests that look at the server from outside."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.fleet import enrollment
from tests.support.live_server import free_port

CLI = str(Path(sys.executable).with_name("echeck-cloud"))


@contextmanager
def cloud_process(
    database_url: str, log: Path, *args: str, port: int | None = None, delivery: bool = False
) -> Iterator[tuple[str, int]]:
    """Yields (base URL, pid of the serving process); `--workers 1` serves in that very process. `port`:
    one chosen beforehand (a `--public-url` naming it); `delivery`: with the e-receipt delivery worker."""
    port = port or free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                CLI,
                "--database-url",
                database_url,
                "serve",
                "--port",
                str(port),
                *([] if delivery else ["--no-delivery-worker"]),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "echeck-cloud serve did not answer: " + log.read_text()
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_kb(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


@dataclass(frozen=True)
class Seeded:
    url: str
    tenant_id: int
    api_key: str
    store_id: int
    enrollment_code: str


def seeded_database(directory: Path) -> Seeded:
    """A migrated SQLite cloud database in `directory` with one tenant, one store and an enrollment code,
    for a cloud process to serve."""
    url = f"sqlite:///{directory}/cloud.db"
    migrate(url)
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            tenant, api_key = tenants.create_tenant(s, "Acme")
            assert tenant.id is not None
            store = tenants.create_store(s, tenant.id, "Tverskaya 7")
            assert store.id is not None
            code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code
            return Seeded(url, tenant.id, api_key, store.id, code)
    finally:
        engine.dispose()
