"""Erasing a buyer from the graph (called by `cloud.privacy.erasure`): the contact's nodes, their edges,
the sightings and mapping rows, and the identifiers that were known only through them (a browser id, a
card seen with nothing else). What stays is recomputed, so the buyer's other identifiers no longer join.

At one tenant (`tenant_id`), only that tenant's observations go; the node itself goes when no tenant's
observation of it is left. Everywhere (`tenant_id` None), the nodes and every edge touching them go.
The edge table is append-only except for this: the law wants the links gone, not flagged.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.identity.graph import NodeKind
from cloud.identity.store import EDGE, LOG, MEMBER, NODE, RELEASED, REVOKED, SEEN, lock_profiles, recompute

BY = "erasure"


def erase_contact(session: Session, hashes: Sequence[str], tenant_id: int | None, now: datetime) -> int:
    """Remove the graph's knowledge of a contact (every hash form in `hashes`); returns rows deleted."""
    contacts = [
        int(n)
        for n in session.execute(
            sa.select(NODE.c.id).where(
                NODE.c.kind.in_((NodeKind.PHONE.value, NodeKind.EMAIL.value)), NODE.c.value.in_(list(hashes))
            )
        ).scalars()
    ]
    if not contacts:
        return 0
    profiles = lock_profiles(session, contacts)
    touching = sa.or_(EDGE.c.a_id.in_(contacts), EDGE.c.b_id.in_(contacts))
    if tenant_id is not None:
        touching = sa.and_(touching, EDGE.c.tenant_id == tenant_id)
    edges = session.execute(sa.select(EDGE.c.id, EDGE.c.a_id, EDGE.c.b_id).where(touching)).all()
    edge_ids = [int(e.id) for e in edges]
    around = {int(n) for e in edges for n in (e.a_id, e.b_id) if n is not None} | set(contacts)
    deleted = 0
    if edge_ids:
        session.execute(sa.delete(REVOKED).where(REVOKED.c.edge_id.in_(edge_ids)))
        deleted += _count(session.execute(sa.delete(EDGE).where(EDGE.c.id.in_(edge_ids))))
    seen = sa.delete(SEEN).where(SEEN.c.node_id.in_(contacts))
    if tenant_id is not None:
        seen = seen.where(SEEN.c.tenant_id == tenant_id)
    deleted += _count(session.execute(seen))
    # Nodes nobody observes any more: the contact (when no tenant is left) and what only it explained.
    still = set(
        session.execute(
            sa.select(EDGE.c.a_id)
            .where(EDGE.c.a_id.in_(sorted(around)))
            .union(sa.select(EDGE.c.b_id).where(EDGE.c.b_id.in_(sorted(around))))
        ).scalars()
    )
    orphans = sorted(around - {int(n) for n in still if n is not None})
    if orphans:
        session.execute(sa.delete(SEEN).where(SEEN.c.node_id.in_(orphans)))
        session.execute(sa.delete(RELEASED).where(RELEASED.c.node_id.in_(orphans)))
        session.execute(sa.delete(MEMBER).where(MEMBER.c.node_id.in_(orphans)))
        deleted += _count(session.execute(sa.delete(NODE).where(NODE.c.id.in_(orphans))))
    for profile in sorted(set(profiles.values())):
        recompute(session, profile, now, by=BY, tenant_id=tenant_id)
    session.execute(
        sa.insert(LOG).values(
            action="erase",
            at=now,
            tenant_id=tenant_id,
            by=BY,
            detail={"edges": len(edge_ids), "nodes": len(orphans)},
        )
    )
    return deleted


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
