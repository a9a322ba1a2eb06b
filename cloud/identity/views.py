"""Reading the graph, always through one tenant's eyes (the ecosystem rule, docs/identity.md).

The graph is shared; a tenant's view of it is:
- the nodes the tenant observed itself (`identity_seen`: its receipts, its site's events, its e-receipt
  pages), and only those: an identifier only another retailer saw is never shown, counted or named;
- two of its nodes are one profile when the shared graph joins them (the link may have been made by any
  tenant's observation: that is what the tenant "uses"), so a buyer who opened another retailer's
  e-receipt in the browser that browses this retailer's site is recognised, without this retailer ever
  seeing the other retailer's receipts, events, edges or identifiers;
- the edges shown (why, provenance) are the tenant's own; a stretch of the chain made of other tenants'
  edges is shown as one step, "связь в экосистеме", with no provenance and no nodes.
Receipts, events and consents are always the tenant's own rows.

Late merges re-attribute history without rewriting anything: events and receipts keep their browser ids
and contacts, and are resolved to profiles here, at query time, through the component mapping.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cloud.accounts.models import Store
from cloud.delivery.models import PushDevice
from cloud.identity import graph, visibility
from cloud.identity.graph import NodeKey, NodeKind, Source
from cloud.identity.models import IdentityEdge, IdentityNode
from cloud.identity.store import EDGE, MEMBER, NODE, SEEN, active_edges, profiles_of, released_by
from cloud.ingest.models import ReceiptRow
from cloud.privacy.models import ConsentRecord
from cloud.tracking.events import EventType, TrackedEvent
from cloud.tracking.models import TrackingEvent
from cloud.tracking.store import to_event
from receipts.contact import ContactKind, mask

PAGE_TYPES = frozenset(
    {EventType.RECEIPT_FETCH, EventType.RECEIPT_OPEN, EventType.BLOCK_VIEW, EventType.BLOCK_CLICK}
)
ECOSYSTEM = "ecosystem"


def node_id(session: Session, key: NodeKey) -> int | None:
    found = session.execute(
        sa.select(NODE.c.id).where(NODE.c.kind == key.kind.value, NODE.c.value == key.value)
    ).scalar()
    return int(found) if found is not None else None


def profile_of(session: Session, node: int | NodeKey) -> int | None:
    """The global profile of a node (None: unknown, or a quarantined hub: it belongs to nobody)."""
    nid = node_id(session, node) if isinstance(node, NodeKey) else node
    if nid is None:
        return None
    row = session.execute(
        sa.select(MEMBER.c.profile_id, NODE.c.quarantined_at)
        .join(NODE, NODE.c.id == MEMBER.c.node_id)
        .where(MEMBER.c.node_id == nid)
    ).first()
    if row is None or row.quarantined_at is not None:
        return None
    return int(row.profile_id)


def seen_by(session: Session, tenant_id: int, nodes: Iterable[int]) -> set[int]:
    listed = sorted(set(nodes))
    if not listed:
        return set()
    query = sa.select(SEEN.c.node_id).where(SEEN.c.tenant_id == tenant_id, SEEN.c.node_id.in_(listed))
    return {int(n) for n in session.execute(query).scalars()}


def tenant_nodes(session: Session, tenant_id: int, profile_id: int) -> list[IdentityNode]:
    """The nodes of a profile that this tenant observed itself, but for those that are nobody's for it
    (its blocked values, hubs it did not release): empty when the profile is not the tenant's."""
    query = (
        sa.select(NODE)
        .join(MEMBER, MEMBER.c.node_id == NODE.c.id)
        .join(SEEN, sa.and_(SEEN.c.node_id == NODE.c.id, SEEN.c.tenant_id == tenant_id))
        .where(MEMBER.c.profile_id == profile_id)
        .order_by(NODE.c.id)
    )
    nodes = [IdentityNode.model_validate(dict(row._mapping)) for row in session.execute(query)]
    away = visibility.hidden(session, tenant_id, [n.id for n in nodes if n.id is not None])
    return [n for n in nodes if n.id not in away]


def tenant_profile_of(session: Session, tenant_id: int, node: int | NodeKey) -> int | None:
    """The profile of a node as this tenant may know it: None unless the tenant observed the node, and
    None for its blocked values and the hubs it did not release."""
    nid = node_id(session, node) if isinstance(node, NodeKey) else node
    if nid is None or not seen_by(session, tenant_id, [nid]) or visibility.hidden(session, tenant_id, [nid]):
        return None
    return profiles_of(session, [nid]).get(nid)


def profiles_for_receipts(session: Session, tenant_id: int, receipt_ids: Sequence[int]) -> dict[int, int]:
    """receipt id → profile id for the tenant's linked receipts: through the receipt's first identifier
    (its contact) unless that one is nobody's for the tenant (blocked, a hub), then its next (the card)."""
    refs = [str(r) for r in receipt_ids]
    if not refs:
        return {}
    rows = session.execute(
        sa.select(EDGE.c.ref, EDGE.c.a_id, EDGE.c.b_id)
        .where(EDGE.c.tenant_id == tenant_id, EDGE.c.source == Source.RECEIPT.value, EDGE.c.ref.in_(refs))
        .order_by(EDGE.c.id)
    ).all()
    candidates: dict[int, list[int]] = {}
    for ref, a, b in rows:
        listed = candidates.setdefault(int(ref), [])
        for node in (a, b):
            if node is not None and int(node) not in listed:
                listed.append(int(node))
    every = {n for listed in candidates.values() for n in listed}
    away = visibility.hidden(session, tenant_id, every)
    mapping = profiles_of(session, every - away)
    found: dict[int, int] = {}
    for receipt_id, listed in candidates.items():
        profile = next((mapping[n] for n in listed if n in mapping), None)
        if profile is not None:
            found[receipt_id] = profile
    return found


def receipts_of_profile(session: Session, tenant_id: int, profile_id: int) -> list[ReceiptRow]:
    nodes = [n.id for n in tenant_nodes(session, tenant_id, profile_id)]
    if not nodes:
        return []
    refs = session.execute(
        sa.select(EDGE.c.ref)
        .where(
            EDGE.c.tenant_id == tenant_id,
            EDGE.c.source == Source.RECEIPT.value,
            sa.or_(EDGE.c.a_id.in_(nodes), EDGE.c.b_id.in_(nodes)),
        )
        .distinct()
    ).scalars()
    ids = sorted(int(r) for r in refs)
    if not ids:
        return []
    query = select(ReceiptRow).where(col(ReceiptRow.id).in_(ids), ReceiptRow.tenant_id == tenant_id)
    return list(session.exec(query.order_by(col(ReceiptRow.id))).all())


def events_of_profile(session: Session, tenant_id: int, profile: int) -> list[TrackedEvent]:
    """The tenant's events of a profile, oldest first: every event of its browsers (on the tenant's site
    and on its e-receipt pages), and the events that linked its other identifiers."""
    nodes = tenant_nodes(session, tenant_id, profile)
    site_prefix, page_prefix = f"t{tenant_id}:", "ec:"
    site = [
        n.value[len(site_prefix) :]
        for n in nodes
        if n.kind == NodeKind.BROWSER and n.value.startswith(site_prefix)
    ]
    page = [
        n.value[len(page_prefix) :]
        for n in nodes
        if n.kind == NodeKind.BROWSER and n.value.startswith(page_prefix)
    ]
    refs = [
        r
        for r in session.execute(
            sa.select(EDGE.c.ref).where(
                EDGE.c.tenant_id == tenant_id,
                EDGE.c.source.in_((Source.EVENT.value, Source.PAGE.value)),
                sa.or_(EDGE.c.a_id.in_([n.id for n in nodes]), EDGE.c.b_id.in_([n.id for n in nodes])),
            )
        ).scalars()
    ]
    page_types = [t.value for t in PAGE_TYPES]
    conditions = []
    if site:
        conditions.append(
            sa.and_(col(TrackingEvent.browser_id).in_(site), col(TrackingEvent.type).not_in(page_types))
        )
    if page:
        conditions.append(
            sa.and_(col(TrackingEvent.browser_id).in_(page), col(TrackingEvent.type).in_(page_types))
        )
    if refs:
        conditions.append(col(TrackingEvent.event_id).in_(refs))
    if not conditions:
        return []
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.tenant_id == tenant_id, sa.or_(*conditions))
        .order_by(col(TrackingEvent.received_at), col(TrackingEvent.event_id))
    )
    return [to_event(row) for row in session.exec(query)]


# --- what head office sees ---------------------------------------------------------------------------------

_KIND_LABELS = {
    NodeKind.PHONE: "телефон",
    NodeKind.EMAIL: "e-mail",
    NodeKind.BROWSER: "браузер",
    NodeKind.CARD: "карта лояльности",
    NodeKind.USER_ID: "пользователь сайта",
}


@dataclass(frozen=True, slots=True)
class ShownNode:
    id: int
    kind: str
    label: str  # masked: never a raw contact, never a whole hash
    quarantined: str | None


def shown(session: Session, tenant_id: int, nodes: Sequence[IdentityNode]) -> list[ShownNode]:
    """Masked labels: a phone or e-mail as '+7 *** ***-45-67' where the tenant's receipts still hold the
    raw contact, otherwise 'телефон (хеш …abcd)'."""
    hashes = [n.value for n in nodes if n.kind in (NodeKind.PHONE.value, NodeKind.EMAIL.value)]
    raw: dict[str, str] = {}
    if hashes:
        for h, kind, value in session.execute(
            sa.select(ReceiptRow.contact_hash, ReceiptRow.contact_kind, ReceiptRow.contact_value).where(  # type: ignore[call-overload]
                ReceiptRow.tenant_id == tenant_id,
                col(ReceiptRow.contact_hash).in_(hashes),
                col(ReceiptRow.contact_value).is_not(None),
            )
        ):
            raw.setdefault(h, mask(ContactKind(kind), value))
    released = released_by(session, tenant_id, [n.id for n in nodes if n.id is not None and n.quarantined_at])
    out = []
    for n in nodes:
        assert n.id is not None
        kind = NodeKind(n.kind)
        label = raw.get(n.value) or f"{_KIND_LABELS[kind]} (хеш …{n.value[-4:]})"
        if kind is NodeKind.BROWSER:
            label = f"браузер …{n.value[-4:]}" + (
                " (страница чека)" if n.value.startswith("ec:") else " (сайт)"
            )
        hub = n.quarantined_at is not None and n.id not in released
        out.append(ShownNode(n.id, kind.value, label, n.quarantine_reason if hub else None))
    return out


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a "why" chain, as a tenant may see it."""

    kind: str  # "edge": one of the tenant's own observations; "ecosystem": others' links, not detailed
    a: int
    b: int
    edge_id: int | None = None
    source: str | None = None
    ref: str | None = None
    at: datetime | None = None


def why(session: Session, tenant_id: int, a: int, b: int) -> list[Step] | None:
    """Why two of the tenant's nodes are one profile: a shortest chain of active edges, the tenant's own
    preferred; None when they are not one profile (or the tenant never saw one of them)."""
    if seen_by(session, tenant_id, [a, b]) != {a, b} or visibility.hidden(session, tenant_id, [a, b]):
        return None
    if a == b:
        return []
    profiles = profiles_of(session, [a, b])
    if len(profiles) != 2 or profiles[a] != profiles[b]:
        return None
    members = [
        int(n)
        for n in session.execute(
            sa.select(MEMBER.c.node_id).where(MEMBER.c.profile_id == profiles[a])
        ).scalars()
    ]
    edges = active_edges(session, members)
    rows = {
        e.id: e
        for e in session.exec(select(IdentityEdge).where(col(IdentityEdge.id).in_([e for e, _, _ in edges])))
    }
    own = [(e, x, y) for e, x, y in edges if rows[e].tenant_id == tenant_id]
    chain = graph.shortest_path(own, a, b)
    if chain is None:
        chain = graph.shortest_path(edges, a, b)
    if chain is None:
        return None
    steps: list[Step] = []
    at_node = a
    for edge_id in chain:
        row = rows[edge_id]
        nxt = row.b_id if row.a_id == at_node else row.a_id
        assert nxt is not None
        if row.tenant_id == tenant_id:
            steps.append(Step("edge", at_node, nxt, edge_id, row.source, row.ref, row.at))
        elif steps and steps[-1].kind == ECOSYSTEM:
            steps[-1] = Step(ECOSYSTEM, steps[-1].a, nxt)
        else:
            steps.append(Step(ECOSYSTEM, at_node, nxt))
        at_node = nxt
    return steps


# --- segments the e-receipt page uses -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segments:
    region: str | None  # the region of the store of the profile's latest receipt at this tenant
    loyalty_member: bool  # a card of this tenant in the profile, or a current loyalty consent
    app_installed: bool  # a push device of this tenant for one of the profile's contacts


def segments_for(session: Session, tenant_id: int, profile_id: int) -> Segments:
    nodes = tenant_nodes(session, tenant_id, profile_id)
    contacts = [n.value for n in nodes if n.kind in (NodeKind.PHONE.value, NodeKind.EMAIL.value)]
    receipts = receipts_of_profile(session, tenant_id, profile_id)
    region = None
    if receipts:
        store = session.get(Store, receipts[-1].store_id)
        region = store.region if store else None
    loyalty = any(n.kind == NodeKind.CARD.value for n in nodes) or any(r.loyalty_card for r in receipts)
    if not loyalty and contacts:
        latest: dict[str, bool] = {}
        for rec in session.exec(
            select(ConsentRecord)
            .where(
                ConsentRecord.tenant_id == tenant_id,
                ConsentRecord.purpose == "loyalty",
                col(ConsentRecord.subject_hash).in_(contacts),
            )
            .order_by(col(ConsentRecord.id))
        ):
            latest[rec.subject_hash] = rec.granted
        loyalty = any(latest.values())
    app = bool(contacts) and (
        session.exec(
            select(PushDevice.id).where(
                PushDevice.tenant_id == tenant_id, col(PushDevice.contact_hash).in_(contacts)
            )
        ).first()
        is not None
    )
    return Segments(region, loyalty, app)


def consents_of_profile(session: Session, tenant_id: int, profile_id: int) -> list[ConsentRecord]:
    contacts = [
        n.value
        for n in tenant_nodes(session, tenant_id, profile_id)
        if n.kind in (NodeKind.PHONE.value, NodeKind.EMAIL.value)
    ]
    if not contacts:
        return []
    query = select(ConsentRecord).where(
        ConsentRecord.tenant_id == tenant_id, col(ConsentRecord.subject_hash).in_(contacts)
    )
    return list(session.exec(query.order_by(col(ConsentRecord.id))).all())
