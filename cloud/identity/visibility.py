"""Which identifiers are nobody's for one tenant, whatever the shared graph joins them to:

- the tenant's own blocked values (`identity_blocked`: the shop's phone, e-mail, a test card): they link
  nothing for that tenant and resolve to no profile (docs/identity.md, "Blocked values");
- quarantined hubs, unless this tenant released them (`identity_release`): a release is the releasing
  tenant's alone, every other tenant still sees a hub that belongs to nobody.
"""

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.identity import graph
from cloud.identity.graph import NodeKey, NodeKind
from cloud.identity.store import BLOCKED, NODE, released_by


def blocked_keys(session: Session, tenant_id: int) -> list[NodeKey]:
    """The graph's keys of the tenant's blocked values (a card is keyed per tenant, contacts are shared)."""
    keys = []
    for kind, value_hash in session.execute(
        sa.select(BLOCKED.c.kind, BLOCKED.c.value_hash).where(BLOCKED.c.tenant_id == tenant_id)
    ):
        node_kind = NodeKind(kind)
        if node_kind is NodeKind.CARD:
            keys.append(graph.tenant_scoped(node_kind, tenant_id, value_hash))
        else:
            keys.append(NodeKey(node_kind, value_hash))
    return keys


def blocked_nodes(session: Session, tenant_id: int, nodes: Iterable[int] | None = None) -> set[int]:
    """The node ids of the tenant's blocked values (among `nodes` when given)."""
    keys = blocked_keys(session, tenant_id)
    if not keys:
        return set()
    query = sa.select(NODE.c.id).where(
        sa.tuple_(NODE.c.kind, NODE.c.value).in_([(k.kind.value, k.value) for k in keys])
    )
    if nodes is not None:
        query = query.where(NODE.c.id.in_(sorted(set(nodes))))
    return {int(n) for n in session.execute(query).scalars()}


def hidden(session: Session, tenant_id: int, nodes: Iterable[int]) -> set[int]:
    """Those of `nodes` that are nobody's for this tenant: blocked by it, or quarantined and not released
    by it."""
    listed = sorted(set(nodes))
    if not listed:
        return set()
    quarantined = {
        int(n)
        for n in session.execute(
            sa.select(NODE.c.id).where(NODE.c.id.in_(listed), NODE.c.quarantined_at.is_not(None))
        ).scalars()
    }
    out = quarantined - released_by(session, tenant_id, quarantined)
    return out | blocked_nodes(session, tenant_id, listed)
