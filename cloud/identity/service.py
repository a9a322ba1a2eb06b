"""What head office asks of identity, as plain documents: a profile (masked identifiers, receipts, events,
consents, segments), why two identifiers are one profile, and an admin's split. Tenant-scoped; receipts
are narrowed to the caller's stores."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cloud.errors import InvalidInput, NotFound
from cloud.identity import linking, store, views, visibility
from cloud.identity.graph import NodeKind
from cloud.identity.models import IdentityEdge, IdentityNode, IdentityRelease, IdentitySeen
from cloud.privacy.keys import IdentityKeys
from receipts.contact import ContactKind, InvalidContact, mask, normalize_email, normalize_phone

# What a tenant may block: its shop phone, e-mail, a test card (docs/identity.md, "Blocked values").
BLOCKABLE = (NodeKind.PHONE.value, NodeKind.EMAIL.value, NodeKind.CARD.value)


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
    profile = views.tenant_profile_of(session, tenant_id, a)
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


def blocked_document(session: Session, tenant_id: int) -> dict[str, Any]:
    return {
        "blocked": [
            {"kind": b.kind, "hash": b.value_hash, "note": b.note, "added_at": b.added_at.isoformat()}
            for b in store.blocked_values(session, tenant_id)
        ]
    }


def block(
    session: Session, keys: IdentityKeys, tenant_id: int, kind: str, value: str, note: str, now: datetime
) -> dict[str, Any]:
    """Block one of the tenant's own values (normalized, keyed-hashed as the graph holds it); commits.
    From now on it links nothing for this tenant and resolves to no profile: later observations with it are
    refused, and the links this tenant's observations made with it before are revoked (`unlinked`)."""
    if kind not in BLOCKABLE:
        raise InvalidInput(f"kind must be one of {', '.join(BLOCKABLE)}")
    try:
        if kind == NodeKind.PHONE.value:
            normalized = normalize_phone(value)
            label = mask(ContactKind.PHONE, normalized)
        elif kind == NodeKind.EMAIL.value:
            normalized = normalize_email(value)
            label = mask(ContactKind.EMAIL, normalized)
        else:
            normalized = value.strip()
            if not normalized:
                raise InvalidContact("a card number is required")
            label = f"карта …{normalized[-2:]}" if len(normalized) > 4 else "карта"
    except InvalidContact as exc:
        raise InvalidInput(f"value: {exc}") from exc
    if kind == NodeKind.CARD.value:
        value_hash = linking.card_key(keys, tenant_id, normalized).value.rpartition(":")[2]
    else:
        value_hash = keys.hash(normalized)
    note = (note.strip() or label)[:100]
    with store.graph_lock(session):
        store.add_blocked(session, tenant_id, NodeKind(kind), value_hash, note, now)
        key = next(
            k
            for k in visibility.blocked_keys(session, tenant_id)
            if k.kind.value == kind and k.value.rpartition(":")[2] == value_hash
        )
        node = views.node_id(session, key)
        unlinked = 0
        if node is not None:
            unlinked = store.unlink_blocked(session, tenant_id, node, now, by=f"block:{note}")
        session.commit()
    return {"kind": kind, "hash": value_hash, "note": note, "unlinked": unlinked}


def unblock(session: Session, tenant_id: int, kind: str, value_hash: str) -> dict[str, Any]:
    """Remove a blocked value (by its hash, as the list shows it); commits."""
    if (
        kind not in BLOCKABLE
        or len(value_hash) != 64
        or any(c not in "0123456789abcdef" for c in value_hash)
        or not store.remove_blocked(session, tenant_id, kind, value_hash)
    ):
        raise NotFound("no such blocked value for this tenant")
    session.commit()
    return {"kind": kind, "hash": value_hash, "removed": True}


def release(session: Session, tenant_id: int, node_id: int, by: str, now: datetime) -> dict[str, Any]:
    """Lift the quarantine of one of the tenant's identifiers for this tenant; commits. Its links made by
    this tenant's observations merge again; for every other tenant it stays a hub (a quarantine is global,
    a release is the releasing tenant's). Logged with this tenant and admin."""
    node = session.get(IdentityNode, node_id)
    seen = session.get(IdentitySeen, (node_id, tenant_id))
    if node is None or seen is None:
        raise NotFound(f"identifier {node_id} not found for this tenant")
    if node.quarantined_at is None or store.released_by(session, tenant_id, [node_id]):
        raise InvalidInput(f"identifier {node_id} is not quarantined")
    with store.graph_lock(session):
        store.release(session, node_id, now, tenant_id=tenant_id, by=by)
        session.commit()
    profile = views.tenant_profile_of(session, tenant_id, node_id)
    return {"node_id": node_id, "released": True, "profile_id": profile}


def quarantined_document(session: Session, tenant_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The tenant's quarantined identifiers (hubs it observed), masked, newest first."""
    nodes = list(
        session.exec(
            select(IdentityNode)
            .join(IdentitySeen, col(IdentitySeen.node_id) == col(IdentityNode.id))
            .where(
                IdentitySeen.tenant_id == tenant_id,
                col(IdentityNode.quarantined_at).is_not(None),
                col(IdentityNode.id).not_in(
                    select(IdentityRelease.node_id).where(IdentityRelease.tenant_id == tenant_id)
                ),
            )
            .order_by(col(IdentityNode.quarantined_at).desc())
            .limit(limit)
        )
    )
    return [asdict(n) for n in views.shown(session, tenant_id, nodes)]
