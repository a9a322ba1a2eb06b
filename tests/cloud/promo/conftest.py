"""Promo test rig: the cloud served on loopback, a tenant with a register, receipts ingested over HTTP."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from cloud.accounts.audit import CLI
from cloud.pages.promo import service
from cloud.pages.promo.rules import Rule
from tests.cloud.conftest import Cloud, Registered
from tests.cloud.delivery.conftest import fakes  # noqa: F401  (the fake providers, for reminder tests)
from tests.support.receipts import wire_receipt

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@dataclass
class PromoRig:
    cloud: Cloud
    reg: Registered

    def session(self) -> Session:
        return self.cloud.session()

    def rule(self, name: str = "next10", **settings: object) -> int:
        values: dict[str, object] = {"percent": None if "amount" in settings else 10, **settings}
        with self.session() as s:
            row = service.save_rule(s, self.reg.tenant_id, Rule(name=name, **values), CLI, NOW)  # type: ignore[arg-type]
            assert row.id is not None
            return row.id

    def receipts(
        self, contacts: list[str | None], start_fd: int = 1, reg: Registered | None = None
    ) -> list[int]:
        """Ingest one receipt per contact over HTTP; returns their ids in order."""
        reg = reg or self.reg
        docs = []
        for i, c in enumerate(contacts):
            contact = None if c is None else {"kind": "email" if "@" in c else "phone", "value": c}
            docs.append(wire_receipt(start_fd + i, contact=contact))
        http = self.cloud.http
        r = http.post(f"/v1/stores/{reg.store_id}/receipts/batch", json={"receipts": docs}, headers=reg.auth)
        assert r.status_code == 200, r.text
        page = http.get(
            f"/v1/stores/{reg.store_id}/receipts", params={"limit": 1000}, headers=reg.tenant_auth
        ).json()
        by_fd = {rec["receipt"]["fiscal"]["fd_number"]: rec["id"] for rec in page["receipts"]}
        return [by_fd[start_fd + i] for i in range(len(contacts))]

    def issue(self, receipt_id: int, rule: str = "next10", now: datetime = NOW) -> service.IssuedPromo | None:
        with self.session() as s:
            return service.issue_for_receipt(
                s, tenant_id=self.reg.tenant_id, receipt_id=receipt_id, rule_name=rule, now=now
            )


@pytest.fixture
def rig(cloud: Cloud) -> PromoRig:
    return PromoRig(cloud, cloud.register())
