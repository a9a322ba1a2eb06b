"""Cloud test fixtures: a migrated database, the app served over loopback, helpers to build receipts."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.app import create_app
from cloud.bootstrap import bootstrap
from cloud.db import make_engine, migrate
from cloud.fleet import enrollment
from cloud.privacy.keys import IdentityKeys, load_identity_keys
from sync.protocol import ENROLL_PATH
from tests.support.live_server import live_server
from tests.support.receipts import wire_receipt

PASSWORD = "correct horse battery"

__all__ = [
    "PASSWORD",
    "Cloud",
    "Registered",
    "wire_receipt",
]  # wire_receipt: the one factory, for the cloud's tests


@dataclass
class Registered:
    tenant_id: int
    store_id: int
    register_id: int
    token: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def tenant_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Cloud:
    url: str  # the database
    engine: Engine
    http: httpx.Client

    def session(self) -> Session:
        return Session(self.engine)

    @property
    def keys(self) -> IdentityKeys:
        """The identity keys the served app uses (the same key file or environment)."""
        return load_identity_keys(self.url)

    def run_jobs(self) -> int:
        """Run the background jobs that are due (deliveries for stored receipts, ...) until none is left,
        as the app's job worker would; returns how many ran. No provider is configured here: a delivery
        ends unreachable at its first step."""
        runtime = bootstrap(self.engine, "https://r.example")
        worker = runtime.worker()
        try:
            ran = 0
            while count := worker.run_once():
                ran += count
            return ran
        finally:
            runtime.close()

    def tenant(self, name: str = "Acme") -> tuple[int, str]:
        with self.session() as s:
            tenant, key = tenants.create_tenant(s, name)
            assert tenant.id is not None
            return tenant.id, key

    def store(self, tenant_id: int, name: str = "Tverskaya 7", region: str | None = None) -> int:
        with self.session() as s:
            store = tenants.create_store(s, tenant_id, name, region)
            assert store.id is not None
            return store.id

    def code(self, store_id: int, ttl: timedelta = timedelta(hours=72)) -> str:
        with self.session() as s:
            return enrollment.issue_enrollment_code(s, store_id, ttl).code

    def user(
        self,
        tenant_id: int,
        email: str,
        role: str = "owner",
        stores: list[int] | None = None,
        regions: list[str] | None = None,
        password: str = PASSWORD,
    ) -> int:
        """A head-office user with a password (as `echeck-cloud user add` makes one)."""
        with self.session() as s:
            user = users.add_user(
                s, tenant_id, email, password, Role(role), StoreScope.of(stores, regions), actor="test"
            )
            assert user.id is not None
            return user.id

    @contextmanager
    def browser(self, email: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """An HTTP client signed in through the sign-in form (it keeps the session cookie)."""
        with httpx.Client(base_url=str(self.http.base_url), timeout=30) as client:
            resp = client.post("/login", data={"email": email, "password": password})
            assert resp.status_code == 303, resp.text
            yield client

    def register(self, tenant: tuple[int, str] | None = None, store_id: int | None = None) -> Registered:
        """Tenant + store (unless given) + a register enrolled over HTTP."""
        tenant_id, api_key = tenant or self.tenant()
        store_id = store_id or self.store(tenant_id)
        resp = self.http.post(ENROLL_PATH, json={"code": self.code(store_id), "hostname": "till-1"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return Registered(tenant_id, store_id, body["register_id"], body["token"], api_key)


@pytest.fixture
def cloud(database_url: str) -> Iterator[Cloud]:
    migrate(database_url)
    engine = make_engine(database_url)
    with live_server(create_app(database_url)) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Cloud(database_url, engine, http)
    engine.dispose()


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
