"""What head office asks of identity, as plain documents: a profile (masked identifiers, receipts, events,
consents, segments), why two identifiers are one profile, and an admin's split. Tenant-scoped; receipts
are narrowed to the caller's stores."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cloud.errors import NotFound
from cloud.identity import store, views
from cloud.identity.models import IdentityEdge


def profile_document(
    session: Session, tenant_id: int, profile_id: int, store_ids: frozenset[int] | None
) -> dict[str, Any]:
    nodes = views.tenant_nodes(session, tenant_id, profile_id)
    if not nodes:
        raise NotFound(f"profile {profile_id} not found for this tenant")
    receipts = [
        r
        for r in views.receipts_of_profile(session, tenant_id, profile_id)
        if store_ids is None or r.store_id in store_ids
    ]
    events = views.events_of_profile(session, tenant_id, profile_id)
    consents = views.consents_of_profile(session, tenant_id, profile_id)
    return {
        "profile_id": profile_id,
        "identifiers": [asdict(n) for n in views.shown(session, tenant_id, nodes)],
        "receipts": [
            {
                "id": r.id,
                "store_id": r.store_id,
                "issued_at": r.issued_at.isoformat(),
                "total": r.total,
                "loyalty_card": bool(r.loyalty_card),
            }
            for r in receipts
        ],
        "events": [
            {
                "event_id": e.event_id,
                "type": e.type.value,
                "at": e.received_at.isoformat(),
                "url": e.url,
                "utm_source": e.utm.get("source"),
                "utm_medium": e.utm.get("medium"),
                "receipt_id": e.receipt_id,
            }
            for e in events
        ],
        "consents": [
            {"purpose": c.purpose, "granted": c.granted, "source": c.source, "at": c.recorded_at.isoformat()}
            for c in consents
        ],
        "segments": asdict(views.segments_for(session, tenant_id, profile_id)),
    }


def why_document(session: Session, tenant_id: int, a: int, b: int) -> dict[str, Any]:
    steps = views.why(session, tenant_id, a, b)
    if steps is None:
        raise NotFound("these two identifiers are not one profile for this tenant")
    labels = {n.id: n.label for n in views.shown(session, tenant_id, _nodes(session, tenant_id, steps, a, b))}
    return {
        "a": a,
        "b": b,
        "steps": [
            {
                "kind": s.kind,
                "from": labels.get(s.a, "—"),
                "to": labels.get(s.b, "—"),
                "edge_id": s.edge_id,
                "source": s.source,
                "ref": s.ref,
                "at": s.at.isoformat() if s.at else None,
            }
            for s in steps
        ],
    }


def _nodes(session: Session, tenant_id: int, steps: list[views.Step], a: int, b: int) -> list[Any]:
    profile = views.profile_of(session, a)
    if profile is None:
        return []
    wanted = {a, b} | {s.a for s in steps} | {s.b for s in steps}
    return [n for n in views.tenant_nodes(session, tenant_id, profile) if n.id in wanted]


def split(
    session: Session, tenant_id: int, edge_id: int, by: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Revoke one of the tenant's own edges and recompute its profile; commits."""
    edge = session.get(IdentityEdge, edge_id)
    if edge is None or edge.tenant_id != tenant_id or edge.decision != "linked":
        raise NotFound(f"link {edge_id} not found for this tenant")
    with store.graph_lock(session):
        mapping = store.revoke(session, edge_id, now, by=by, reason=reason, tenant_id=tenant_id)
        session.commit()
    parts = sorted(set(mapping.values()))
    return {"edge_id": edge_id, "profiles": parts, "split": len(parts) > 1}
