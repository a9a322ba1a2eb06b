"""Fixtures for sync tests: a real cloud on loopback with a tenant, two stores and an enrolled register."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.protocol import ENROLL_PATH, EnrollResponse, receipts_path
from tests.support.live_server import free_port, live_server
from tests.sync.fake_peer import FakeCloud
from tests.sync.helpers import Served


@dataclass
class Cloud:
    url: str
    port: int
    database_url: str
    store_id: int
    other_store_id: int
    token: str
    api_key: str
    app_factory: Callable[[], Any]
    _server: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        """Serve the cloud on its port (again): same database, as after a restart."""
        self._server = ExitStack()
        self._server.enter_context(live_server(self.app_factory(), port=self.port))

    def stop(self) -> None:
        self._server.close()

    def receipt_keys(self, store_id: int | None = None) -> list[str]:
        """Every receipt key the cloud holds for the store, through its read API (duplicates kept)."""
        keys: list[str] = []
        after = 0
        # 30 s, not httpx's 5: a page of 500 receipts, read while the cloud's job worker handles the
        # backlog just stored, took longer than 5 s once on 2 cores busy with the rest of the suite.
        auth = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=self.url, headers=auth, timeout=30) as client:
            while True:
                page = client.get(
                    receipts_path(store_id or self.store_id), params={"after_id": after, "limit": 500}
                )
                page.raise_for_status()
                body = page.json()
                keys += [r["key"] for r in body["receipts"]]
                if body["next_after_id"] is None:
                    return keys
                after = body["next_after_id"]


def _enroll(url: str, code: str) -> EnrollResponse:
    # 30 s, not httpx's 5: an enrollment (a credential hashed with argon2) once took longer on 2 cores busy
    # with the rest of the suite.
    body = {"code": code, "hostname": "till-1", "agent_version": "test"}
    answer = httpx.post(url + ENROLL_PATH, json=body, timeout=30)
    answer.raise_for_status()
    return EnrollResponse.model_validate(answer.json())


@pytest.fixture
def cloud(database_url: str) -> Iterator[Cloud]:
    # Imported here so that the outbox tests still run while the cloud is being built or broken.
    from cloud.accounts import tenants
    from cloud.app import create_app
    from cloud.db.engine import make_engine
    from cloud.db.migrate import migrate
    from cloud.fleet import enrollment

    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        tenant, api_key = tenants.create_tenant(session, "Хлебный")
        assert tenant.id is not None
        store = tenants.create_store(session, tenant.id, "Store 1")
        other = tenants.create_store(session, tenant.id, "Store 2")
        store_id, other_id = store.id, other.id
        assert store_id is not None
        assert other_id is not None
        code = enrollment.issue_enrollment_code(session, store_id).code
    engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    handle = Cloud(url, port, database_url, store_id, other_id, "", api_key, lambda: create_app(database_url))
    handle.start()
    try:
        enrolled = _enroll(url, code)
        assert enrolled.store_id == store_id
        handle.token = enrolled.token
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db")
    yield box
    box.close()


@pytest.fixture
def peer() -> Iterator[FakeCloud]:
    """A fake cloud that misbehaves on demand (5xx, 429, timeouts, odd answers)."""
    fake = FakeCloud()
    served = Served(fake.app).start()
    fake.url, fake.served = served.url, served
    yield fake
    served.stop()


@pytest.fixture
def client(peer: FakeCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=peer.url, auth=BearerToken("tok-123"), timeout=5) as c:
        yield c
