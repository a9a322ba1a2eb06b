"""Identity test fixtures: a migrated database, tenants, and a linker that records observations."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.identity import graph
from cloud.identity.graph import NodeKey, NodeKind, Policy, Source
from cloud.identity.linking import Linker
from cloud.identity.store import EDGE, MEMBER, Observation, Outcome
from cloud.identity.views import node_id
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds

KEYS = IdentityKeys("v1", {"v1": b"identity-test-key-0123456789abcd"})
T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def phone(n: int) -> NodeKey:
    return NodeKey(NodeKind.PHONE, KEYS.hash(f"7916{n:07d}"))


def email(name: str) -> NodeKey:
    return NodeKey(NodeKind.EMAIL, KEYS.hash(f"{name}@example.ru"))


def browser(tenant_id: int, name: str) -> NodeKey:
    return graph.site_browser(tenant_id, name)


def card(tenant_id: int, number: str) -> NodeKey:
    return graph.tenant_scoped(NodeKind.CARD, tenant_id, KEYS.hash(number))


def user(tenant_id: int, uid: str) -> NodeKey:
    return graph.tenant_scoped(NodeKind.USER_ID, tenant_id, KEYS.hash(uid))


@dataclass
class Graph:
    engine: Engine
    linker: Linker
    refs: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    clock: Iterator[int] = field(default_factory=lambda: itertools.count(0))

    def session(self) -> Session:
        return Session(self.engine)

    def tenant(self, name: str) -> int:
        with self.session() as s:
            tenant, _ = tenants.create_tenant(s, name)
            assert tenant.id is not None
            return tenant.id

    def see(
        self,
        tenant_id: int,
        *keys: NodeKey,
        source: Source = Source.EVENT,
        junk: frozenset[NodeKey] = frozenset(),
    ) -> Outcome:
        at = T0 + timedelta(minutes=next(self.clock))
        return self.linker.link(Observation(tenant_id, source, f"ref-{next(self.refs)}", at, keys, junk))

    def id(self, key: NodeKey) -> int:
        with self.session() as s:
            found = node_id(s, key)
        assert found is not None, key
        return found

    def profile(self, key: NodeKey) -> int:
        with self.session() as s:
            return int(
                s.execute(
                    sa.select(MEMBER.c.profile_id).where(MEMBER.c.node_id == node_id(s, key))
                ).scalar_one()
            )

    def same(self, *keys: NodeKey) -> bool:
        return len({self.profile(k) for k in keys}) == 1

    def mapping(self) -> dict[int, int]:
        with self.session() as s:
            return {int(n): int(p) for n, p in s.execute(sa.select(MEMBER.c.node_id, MEMBER.c.profile_id))}

    def edges(self) -> list[tuple[str, str | None]]:
        with self.session() as s:
            return [
                (d, r) for d, r in s.execute(sa.select(EDGE.c.decision, EDGE.c.reason).order_by(EDGE.c.id))
            ]


@pytest.fixture
def g(database_url: str) -> Iterator[Graph]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield Graph(engine, Linker(engine, KEYS, ClickIds(KEYS.keys.values()), Policy()))
    engine.dispose()
