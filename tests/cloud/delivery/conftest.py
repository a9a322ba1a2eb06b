"""Delivery test rig: a migrated cloud served on loopback, the fake providers on loopback (SMTP via
aiosmtpd, FCM / Viber / SMS.ru as FastAPI apps), a tenant whose channels point at them."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from cloud.bootstrap import Runtime, bootstrap
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from cloud.jobs import Worker, WorkerOptions
from fakes import fcm, smsru, smtp, viber
from fakes.behaviour import Behaviour
from tests.cloud.conftest import Cloud, Registered
from tests.support.live_server import live_server
from tests.support.receipts import wire_receipt

EMAIL_SECRET = "mail-webhook-secret"
VIBER_TOKEN = "viber-auth-token-1"
SMS_SECRET = "sms-callback-secret"


@dataclass
class Fakes:
    mail: Behaviour
    push: Behaviour
    viber: Behaviour
    sms: Behaviour
    smtp_port: int
    fcm_url: str
    viber_url: str
    sms_url: str


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    b = {name: Behaviour(delay_s=0.02) for name in ("mail", "push", "viber", "sms")}
    controller = smtp.start_smtp(b["mail"])
    try:
        with (
            live_server(fcm.create_app(b["push"])) as fcm_url,
            live_server(viber.create_app(b["viber"])) as viber_url,
            live_server(smsru.create_app(b["sms"])) as sms_url,
        ):
            yield Fakes(
                b["mail"], b["push"], b["viber"], b["sms"], controller.port, fcm_url, viber_url, sms_url
            )
    finally:
        controller.stop()


@dataclass
class Rig:
    cloud: Cloud
    fakes: Fakes
    reg: Registered
    base_url: str  # the cloud's HTTP address (callbacks go there)

    def session(self) -> Session:
        return self.cloud.session()

    def runtime(self, http: httpx.Client | None = None, lease_s: float = 60.0) -> Runtime:
        """The app's wiring (bus, jobs, delivery's handlers) on the test database; `close()` it."""
        return bootstrap(self.cloud.engine, "https://r.example", lease_s=lease_s, http=http)

    def worker(self, http: httpx.Client | None = None) -> "Jobs":
        """A job worker as `echeck-cloud worker` runs it, driven step by step; `close()` it."""
        runtime = self.runtime(http)
        return Jobs(runtime, runtime.worker(WorkerOptions(name="test")))

    def send_receipts(self, contacts: list[str | None], start_fd: int = 1) -> list[int]:
        """Ingest one receipt per contact over HTTP; returns the receipt ids in order."""
        docs = []
        for i, c in enumerate(contacts):
            contact = None if c is None else {"kind": "email" if "@" in c else "phone", "value": c}
            docs.append(wire_receipt(start_fd + i, contact=contact))
        r = self.cloud.http.post(
            f"/v1/stores/{self.reg.store_id}/receipts/batch", json={"receipts": docs}, headers=self.reg.auth
        )
        assert r.status_code == 200, r.text
        page = self.cloud.http.get(
            f"/v1/stores/{self.reg.store_id}/receipts", params={"limit": 1000}, headers=self.reg.tenant_auth
        ).json()
        by_fd = {rec["receipt"]["fiscal"]["fd_number"]: rec["id"] for rec in page["receipts"]}
        return [by_fd[start_fd + i] for i in range(len(contacts))]

    def timeline(self, receipt_id: int) -> dict[str, Any]:
        r = self.cloud.http.get(f"/v1/receipts/{receipt_id}/delivery", headers=self.reg.tenant_auth)
        assert r.status_code == 200, r.text
        return r.json()


@dataclass
class Jobs:
    runtime: Runtime
    worker: Worker

    def run_once(self) -> int:
        return self.worker.run_once()

    def close(self) -> None:
        self.runtime.close()


def configure(session: Session, tenant_id: int, f: Fakes, base_url: str, policy: str | None = None) -> None:
    cb = f"{base_url}/v1/delivery/callbacks/{tenant_id}"
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.EMAIL,
        {
            "host": "127.0.0.1",
            "port": f.smtp_port,
            "sender": "Shop <receipts@shop.example>",
            "webhook_secret": EMAIL_SECRET,
            "timeout_s": 2,
        },
    )
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.PUSH,
        {
            "base_url": f.fcm_url,
            "project_id": "shop-app",
            "access_token": "ya29.test-token",
            "timeout_s": 2,
        },
    )
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.VIBER,
        {
            "base_url": f.viber_url,
            "auth_token": VIBER_TOKEN,
            "timeout_s": 2,
        },
    )
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.SMS,
        {
            "base_url": f.sms_url,
            "api_id": "sms-ru-api-id-1",
            "callback_secret": SMS_SECRET,
            "timeout_s": 2,
        },
    )
    if policy:
        delivery_config.set_policy(session, tenant_id, policy)
    f.mail.callback_url, f.mail.secret = f"{cb}/email", EMAIL_SECRET
    f.viber.callback_url = f"{cb}/viber"
    f.sms.callback_url = f"{cb}/sms/{SMS_SECRET}"
    f.push.callback_url = f"{base_url}/v1/delivery/app/events"


@pytest.fixture
def rig(cloud: Cloud, fakes: Fakes) -> Rig:
    reg = cloud.register()
    base_url = str(cloud.http.base_url).rstrip("/")
    fakes.push.secret = reg.api_key
    with cloud.session() as s:
        configure(s, reg.tenant_id, fakes, base_url)
    return Rig(cloud, fakes, reg, base_url)


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll with a deadline: every wait has a timeout (no timed assertions)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def drain(worker: Jobs, done: Any, timeout: float = 20.0) -> None:
    """Run the worker's due jobs until `done()` holds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError("deliveries did not finish")


def statuses(session: Session) -> dict[int, str]:
    from sqlmodel import select

    from cloud.delivery.models import DeliveryRow

    return {r.receipt_id: r.status for r in session.exec(select(DeliveryRow))}


def all_finished(rig: "Rig", count: int) -> bool:
    with rig.session() as s:
        now = statuses(s)
    return len(now) == count and all(v in ("delivered", "failed", "unreachable") for v in now.values())
