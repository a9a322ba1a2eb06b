"""The graph in the database: nodes, observations, the component mapping, merges, splits and quarantine.

Concurrency. A component's mapping rows change only while its `identity_profile` row is locked
(`SELECT … FOR UPDATE`, in id order). The linker reads the profiles of the two nodes, locks them, and reads
again: if a concurrent merge moved either node meanwhile (or deleted the profile it was in), it locks the
new profile and tries again. So two workers on PostgreSQL never interleave on one component; a deadlock
between two of them is detected by PostgreSQL, and the job is retried. SQLite has one writer: an
observation's transaction holds the process's graph lock (the one in-process worker).

Every observation is one transaction (`observe`), idempotent by (tenant, source, ref): a job retried after
a crash skips what it already recorded.
"""

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.identity import graph
from cloud.identity.graph import Decision, Member, NodeKey, NodeKind, PairFacts, Policy, Source, Verdict
from cloud.identity.models import (
    IdentityBlocked,
    IdentityEdge,
    IdentityMember,
    IdentityMergeLog,
    IdentityNode,
    IdentityProfile,
    IdentityRelease,
    IdentityRevocation,
    IdentitySeen,
)
from cloud.privacy.keys import IdentityKeys


def _t(model: Any) -> sa.Table:
    return cast(sa.Table, model.__table__)


NODE = _t(IdentityNode)
EDGE = _t(IdentityEdge)
MEMBER = _t(IdentityMember)
PROFILE = _t(IdentityProfile)
LOG = _t(IdentityMergeLog)
SEEN = _t(IdentitySeen)
REVOKED = _t(IdentityRevocation)
BLOCKED = _t(IdentityBlocked)
RELEASED = _t(IdentityRelease)

LINKER = "linker"
_SQLITE_LOCK = threading.RLock()


@contextmanager
def graph_lock(session: Session) -> Iterator[None]:
    """Hold for a whole transaction that changes the graph: a no-op on PostgreSQL (row locks do it)."""
    if session.get_bind().dialect.name == "sqlite":
        with _SQLITE_LOCK:
            yield
    else:
        yield


def _insert(session: Session, table: sa.Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _for_update(session: Session, query: sa.Select[Any]) -> sa.Select[Any]:
    return query.with_for_update() if session.get_bind().dialect.name == "postgresql" else query


# --- blocked values ----------------------------------------------------------------------------------------

_ZEROS = (*("0" * n for n in range(1, 16)), "70000000000", "80000000000", "-", "--", "0-0")


@cache
def _junk_for(rendered_keys: str) -> frozenset[str]:
    keys = IdentityKeys.parse(rendered_keys)
    return frozenset(h for value in (*graph.JUNK_VALUES, *_ZEROS) for h in keys.every_hash(value))


def _junk_hashes(keys: IdentityKeys) -> frozenset[str]:
    return _junk_for(keys.render())


@dataclass(frozen=True, slots=True)
class Blocklist:
    """Values that never link for one tenant: junk (in every hashed form) and the tenant's own list."""

    junk: frozenset[str]
    own: frozenset[tuple[str, str]]  # (kind, hash)

    def blocks(self, key: NodeKey) -> bool:
        hashed = key.value.rpartition(":")[2]
        if key.kind is NodeKind.BROWSER:
            return graph.is_junk(hashed)
        return hashed in self.junk or (key.kind.value, hashed) in self.own


def blocklist(session: Session, keys: IdentityKeys, tenant_id: int) -> Blocklist:
    own = session.execute(
        sa.select(BLOCKED.c.kind, BLOCKED.c.value_hash).where(BLOCKED.c.tenant_id == tenant_id)
    )
    return Blocklist(_junk_hashes(keys), frozenset((k, h) for k, h in own))


def add_blocked(
    session: Session, tenant_id: int, kind: NodeKind, value_hash: str, note: str, now: datetime
) -> None:
    """A tenant's own value (the shop's phone or e-mail, hashed) that never links; not committed."""
    row = {
        "tenant_id": tenant_id,
        "kind": kind.value,
        "value_hash": value_hash,
        "note": note[:100],
        "added_at": now,
    }
    session.execute(_insert(session, BLOCKED).values(row).on_conflict_do_nothing())


# --- observing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """Identifiers seen together by one tenant: `keys[0]` with each of the others (a star); one key alone
    is a sighting. `junk`: keys whose raw value was junk (a card '0000'), refused like blocked ones."""

    tenant_id: int
    source: Source
    ref: str
    at: datetime
    keys: tuple[NodeKey, ...]
    junk: frozenset[NodeKey] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Outcome:
    recorded: bool  # False: this (tenant, source, ref) was recorded before
    verdicts: tuple[Verdict, ...] = ()


def already_recorded(session: Session, tenant_id: int, source: Source, ref: str) -> bool:
    query = sa.select(EDGE.c.id).where(
        EDGE.c.tenant_id == tenant_id, EDGE.c.source == source.value, EDGE.c.ref == ref
    )
    return session.execute(query.limit(1)).first() is not None


def upsert_nodes(session: Session, keys: Iterable[NodeKey], at: datetime) -> dict[NodeKey, int]:
    """The ids of `keys`, creating nodes (and their one-node profiles) that are new; `last_seen_at` moves."""
    unique = sorted(set(keys))
    if not unique:
        return {}
    rows = [{"kind": k.kind.value, "value": k.value, "first_seen_at": at, "last_seen_at": at} for k in unique]
    stmt = _insert(session, NODE).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "value"], set_={"last_seen_at": stmt.excluded.last_seen_at}
    ).returning(NODE.c.id, NODE.c.kind, NODE.c.value)
    ids = {NodeKey(NodeKind(kind), value): int(i) for i, kind, value in session.execute(stmt)}
    members = _insert(session, MEMBER).values([{"node_id": i, "profile_id": i} for i in sorted(ids.values())])
    fresh = [
        int(n)
        for n in session.execute(members.on_conflict_do_nothing().returning(MEMBER.c.node_id)).scalars()
    ]
    if fresh:
        profiles = _insert(session, PROFILE).values([{"id": n} for n in sorted(fresh)])
        session.execute(profiles.on_conflict_do_nothing())
    return ids


def _seen(session: Session, tenant_id: int, node_ids: Iterable[int], at: datetime) -> None:
    rows = [
        {"node_id": n, "tenant_id": tenant_id, "first_at": at, "last_at": at} for n in sorted(set(node_ids))
    ]
    if rows:
        stmt = _insert(session, SEEN).values(rows)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["node_id", "tenant_id"], set_={"last_at": stmt.excluded.last_at}
            )
        )


def observe(
    session: Session, obs: Observation, policy: Policy, blocked: Blocklist, *, skip_known: bool = True
) -> Outcome:
    """Record one observation and link what the guardrails allow. Not committed (the caller commits,
    holding `graph_lock`)."""
    if skip_known and already_recorded(session, obs.tenant_id, obs.source, obs.ref):
        return Outcome(False)
    ids = upsert_nodes(session, obs.keys, obs.at)
    _seen(session, obs.tenant_id, ids.values(), obs.at)
    anchor = obs.keys[0]
    base = {"tenant_id": obs.tenant_id, "source": obs.source.value, "ref": obs.ref[:64], "at": obs.at}
    others = [k for k in dict.fromkeys(obs.keys[1:]) if k != anchor]
    if not others:
        session.execute(
            sa.insert(EDGE).values(a_id=ids[anchor], b_id=None, decision=Decision.SEEN.value, **base)
        )
        return Outcome(True, (Verdict(Decision.SEEN),))
    verdicts: list[Verdict] = []
    for other in others:
        is_blocked = any(blocked.blocks(k) or k in obs.junk for k in (anchor, other))
        verdicts.append(_link_pair(session, policy, ids[anchor], ids[other], is_blocked, base))
    return Outcome(True, tuple(verdicts))


def _link_pair(
    session: Session, policy: Policy, a: int, b: int, is_blocked: bool, base: dict[str, Any]
) -> Verdict:
    at: datetime = base["at"]
    profiles = lock_profiles(session, (a, b))
    facts = _facts(session, a, b, profiles, is_blocked, base["tenant_id"])
    verdict = graph.decide(policy, facts, at)
    edge_id = int(
        session.execute(
            sa.insert(EDGE)
            .values(a_id=a, b_id=b, decision=verdict.decision.value, reason=verdict.reason, **base)
            .returning(EDGE.c.id)
        ).scalar_one()
    )
    if verdict.hub is not None:
        quarantine(
            session, verdict.hub, verdict.reason or graph.HUB, at, tenant_id=base["tenant_id"], by=LINKER
        )
    elif verdict.merges and profiles[a] != profiles[b]:
        _merge(session, profiles[a], profiles[b], edge_id, at, base["tenant_id"])
    return verdict


def lock_profiles(session: Session, nodes: Sequence[int]) -> dict[int, int]:
    """node → profile id, with those profiles' rows locked (PostgreSQL) so they cannot change under us."""
    while True:
        before = profiles_of(session, nodes)
        wanted = sorted(set(before.values()))
        query = sa.select(PROFILE.c.id).where(PROFILE.c.id.in_(wanted)).order_by(PROFILE.c.id)
        locked = set(session.execute(_for_update(session, query)).scalars())
        after = profiles_of(session, nodes)
        if after == before and locked == set(wanted):
            return after


def profiles_of(session: Session, nodes: Iterable[int]) -> dict[int, int]:
    listed = sorted(set(nodes))
    query = sa.select(MEMBER.c.node_id, MEMBER.c.profile_id).where(MEMBER.c.node_id.in_(listed))
    return {int(n): int(p) for n, p in session.execute(query)}


def _members(session: Session, profile_ids: Iterable[int]) -> dict[int, list[tuple[Member, bool]]]:
    """profile → its members, each with whether it is quarantined."""
    query = (
        sa.select(
            MEMBER.c.profile_id,
            NODE.c.id,
            NODE.c.kind,
            NODE.c.value,
            NODE.c.last_seen_at,
            NODE.c.quarantined_at,
        )
        .join(NODE, NODE.c.id == MEMBER.c.node_id)
        .where(MEMBER.c.profile_id.in_(sorted(set(profile_ids))))
    )
    found: dict[int, list[tuple[Member, bool]]] = {}
    for profile, node_id, kind, value, last_seen, quarantined in session.execute(query):
        member = Member(int(node_id), NodeKind(kind), value, last_seen)
        found.setdefault(int(profile), []).append((member, quarantined is not None))
    return found


def _neighbours(session: Session, node: int, kind: NodeKind) -> set[int]:
    out = sa.select(EDGE.c.b_id.label("o")).where(EDGE.c.a_id == node, EDGE.c.b_id.is_not(None))
    back = sa.select(EDGE.c.a_id.label("o")).where(EDGE.c.b_id == node)
    around = sa.union(out, back).subquery()
    query = sa.select(around.c.o).join(NODE, NODE.c.id == around.c.o).where(NODE.c.kind == kind.value)
    return {int(n) for n in session.execute(query).scalars()}


def _pair_revoked(session: Session, a: int, b: int) -> bool:
    pair = sa.or_(sa.and_(EDGE.c.a_id == a, EDGE.c.b_id == b), sa.and_(EDGE.c.a_id == b, EDGE.c.b_id == a))
    query = sa.select(EDGE.c.id).join(REVOKED, REVOKED.c.edge_id == EDGE.c.id).where(pair).limit(1)
    return session.execute(query).first() is not None


def _facts(
    session: Session, a: int, b: int, profiles: dict[int, int], is_blocked: bool, tenant_id: int
) -> PairFacts:
    members = _members(session, (profiles[a], profiles[b]))
    flags = {m.id: q for rows in members.values() for m, q in rows}
    by_id = {m.id: m for rows in members.values() for m, _ in rows}
    released = released_by(session, tenant_id, [n for n in (a, b) if flags[n]])
    quarantined = (flags[a] and a not in released) or (flags[b] and b not in released)
    a_near = b_near = 0
    # A node this tenant released is not counted as a hub again for its links: its admin vouched for it.
    if not (is_blocked or quarantined):
        a_near = 0 if a in released else len(_neighbours(session, a, by_id[b].kind) | {b})
        b_near = 0 if b in released else len(_neighbours(session, b, by_id[a].kind) | {a})
    return PairFacts(
        a=by_id[a],
        b=by_id[b],
        a_profile=profiles[a],
        b_profile=profiles[b],
        a_members=tuple(m for m, _ in members[profiles[a]]),
        b_members=tuple(m for m, _ in members[profiles[b]]) if profiles[b] != profiles[a] else (),
        blocked=is_blocked,
        quarantined=quarantined,
        pair_revoked=not (is_blocked or quarantined) and _pair_revoked(session, a, b),
        a_neighbours=a_near,
        b_neighbours=b_near,
    )


def _log(session: Session, action: str, at: datetime, **values: Any) -> None:
    session.execute(sa.insert(LOG).values(action=action, at=at, **values))


def _merge(session: Session, pa: int, pb: int, edge_id: int, at: datetime, tenant_id: int) -> None:
    survivor, gone = min(pa, pb), max(pa, pb)
    session.execute(sa.update(MEMBER).where(MEMBER.c.profile_id == gone).values(profile_id=survivor))
    session.execute(sa.delete(PROFILE).where(PROFILE.c.id == gone))
    _log(
        session,
        "merge",
        at,
        profile_id=survivor,
        other_id=gone,
        edge_id=edge_id,
        tenant_id=tenant_id,
        by=LINKER,
    )


# --- splits: quarantine, revocation, recompute -------------------------------------------------------------


def released_by(session: Session, tenant_id: int, nodes: Iterable[int]) -> set[int]:
    """Which of `nodes` this tenant released from their quarantine (for its own links)."""
    listed = sorted(set(nodes))
    if not listed:
        return set()
    query = sa.select(RELEASED.c.node_id).where(
        RELEASED.c.tenant_id == tenant_id, RELEASED.c.node_id.in_(listed)
    )
    return {int(n) for n in session.execute(query).scalars()}


def active_edges(session: Session, nodes: Sequence[int]) -> list[tuple[int, int, int]]:
    """(edge id, a, b) of the linking edges among `nodes`: linked, not revoked, and neither end quarantined,
    unless the edge's own tenant released that end (a release counts for the releasing tenant's links only).
    """
    if not nodes:
        return []
    listed = sorted(set(nodes))
    quarantined = set(
        session.execute(
            sa.select(NODE.c.id).where(NODE.c.id.in_(listed), NODE.c.quarantined_at.is_not(None))
        ).scalars()
    )
    releases: set[tuple[int, int]] = set()
    if quarantined:
        releases = {
            (int(n), int(t))
            for n, t in session.execute(
                sa.select(RELEASED.c.node_id, RELEASED.c.tenant_id).where(
                    RELEASED.c.node_id.in_(sorted(quarantined))
                )
            )
        }
    query = (
        sa.select(EDGE.c.id, EDGE.c.a_id, EDGE.c.b_id, EDGE.c.tenant_id)
        .outerjoin(REVOKED, REVOKED.c.edge_id == EDGE.c.id)
        .where(EDGE.c.a_id.in_(listed), EDGE.c.decision == Decision.LINKED.value, REVOKED.c.edge_id.is_(None))
    )
    inside = set(listed)

    def counts(node: int, tenant: int) -> bool:
        return node not in quarantined or (node, tenant) in releases

    return [
        (int(e), int(a), int(b))
        for e, a, b, t in session.execute(query)
        if b in inside and counts(int(a), int(t)) and counts(int(b), int(t))
    ]


def recompute(
    session: Session, profile_id: int, at: datetime, *, by: str, tenant_id: int | None
) -> dict[int, int]:
    """Recompute one (locked) profile's components from its active edges; logs each part split off.
    Returns node → new profile id."""
    nodes = [
        int(n)
        for n in session.execute(
            sa.select(MEMBER.c.node_id).where(MEMBER.c.profile_id == profile_id)
        ).scalars()
    ]
    mapping = graph.components(nodes, ((a, b) for _, a, b in active_edges(session, nodes)))
    parts = sorted(set(mapping.values()))
    if parts == [profile_id]:
        return mapping
    for part in parts:
        moved = [n for n, p in mapping.items() if p == part]
        if part != profile_id:
            session.execute(sa.update(MEMBER).where(MEMBER.c.node_id.in_(moved)).values(profile_id=part))
            session.execute(_insert(session, PROFILE).values(id=part).on_conflict_do_nothing())
            _log(
                session,
                "split",
                at,
                profile_id=profile_id,
                other_id=part,
                tenant_id=tenant_id,
                by=by,
                detail={"nodes": len(moved)},
            )
    if profile_id not in parts:
        session.execute(sa.delete(PROFILE).where(PROFILE.c.id == profile_id))
    return mapping


def quarantine(
    session: Session, node: int, reason: str, at: datetime, *, tenant_id: int | None, by: str
) -> None:
    """Flag `node` as a hub: it links nothing from now on, and its profile is recomputed without it."""
    profile = lock_profiles(session, (node,))[node]
    session.execute(
        sa.update(NODE).where(NODE.c.id == node).values(quarantined_at=at, quarantine_reason=reason[:64])
    )
    _log(
        session,
        "quarantine",
        at,
        profile_id=profile,
        node_id=node,
        tenant_id=tenant_id,
        by=by,
        detail={"reason": reason},
    )
    recompute(session, profile, at, by=by, tenant_id=tenant_id)


def release(session: Session, node: int, at: datetime, *, tenant_id: int, by: str) -> None:
    """Lift a quarantine for one tenant: that tenant's active edges of the node link again (their profiles
    merge, caps not re-checked). The flag stays: for every other tenant the node is still a hub."""
    session.execute(
        _insert(session, RELEASED)
        .values(node_id=node, tenant_id=tenant_id, released_at=at, released_by=by[:100])
        .on_conflict_do_nothing()
    )
    _log(session, "release", at, node_id=node, tenant_id=tenant_id, by=by)
    query = _tenant_links_of(node, tenant_id, EDGE.c.id, EDGE.c.a_id, EDGE.c.b_id)
    for edge_id, a, b in session.execute(query).all():
        other = int(b) if int(a) == node else int(a)
        flagged = session.execute(
            sa.select(NODE.c.id).where(NODE.c.id == other, NODE.c.quarantined_at.is_not(None))
        ).first()
        if flagged and other not in released_by(session, tenant_id, [other]):
            continue
        profiles = lock_profiles(session, (int(a), int(b)))
        if profiles[a] != profiles[b]:
            _merge(session, profiles[a], profiles[b], int(edge_id), at, tenant_id)


def _tenant_links_of(node: int, tenant_id: int, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The links this tenant's observations made with `node` that no one has revoked."""
    return (
        sa.select(*columns)
        .outerjoin(REVOKED, REVOKED.c.edge_id == EDGE.c.id)
        .where(
            sa.or_(EDGE.c.a_id == node, EDGE.c.b_id == node),
            EDGE.c.tenant_id == tenant_id,
            EDGE.c.decision == Decision.LINKED.value,
            REVOKED.c.edge_id.is_(None),
        )
    )


def unlink_blocked(session: Session, tenant_id: int, node: int, at: datetime, *, by: str) -> int:
    """A value the tenant just blocked: its links made by this tenant's observations are revoked (so it
    links nothing for this tenant, then or later). Returns how many; not committed."""
    query = _tenant_links_of(node, tenant_id, EDGE.c.id).order_by(EDGE.c.id)
    edges = [int(e) for e in session.execute(query).scalars()]
    for edge_id in edges:
        revoke(session, edge_id, at, by=by, reason="заблокированное значение", tenant_id=tenant_id)
    return len(edges)


def revoke(
    session: Session, edge_id: int, at: datetime, *, by: str, reason: str, tenant_id: int
) -> dict[int, int]:
    """Undo a wrong link: the edge is revoked (the pair never merges again by itself) and its profile is
    recomputed without it. Returns node → profile id of the nodes of the old profile."""
    row = session.execute(sa.select(EDGE.c.a_id, EDGE.c.b_id).where(EDGE.c.id == edge_id)).one()
    profile = lock_profiles(session, (int(row.a_id),))[int(row.a_id)]
    session.execute(
        _insert(session, REVOKED)
        .values(edge_id=edge_id, revoked_at=at, revoked_by=by[:100], reason=reason[:200])
        .on_conflict_do_nothing()
    )
    mapping = recompute(session, profile, at, by=by, tenant_id=tenant_id)
    _log(
        session,
        "revoke",
        at,
        profile_id=profile,
        edge_id=edge_id,
        tenant_id=tenant_id,
        by=by,
        detail={"parts": len(set(mapping.values())), "reason": reason[:200]},
    )
    return mapping


# --- the tenant's blocked values, read and removed ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockedValue:
    kind: str
    value_hash: str
    note: str
    added_at: datetime


def blocked_values(session: Session, tenant_id: int) -> list[BlockedValue]:
    rows = session.execute(
        sa.select(BLOCKED.c.kind, BLOCKED.c.value_hash, BLOCKED.c.note, BLOCKED.c.added_at)
        .where(BLOCKED.c.tenant_id == tenant_id)
        .order_by(BLOCKED.c.added_at, BLOCKED.c.kind, BLOCKED.c.value_hash)
    )
    return [BlockedValue(str(k), str(h), str(n), a) for k, h, n, a in rows]


def remove_blocked(session: Session, tenant_id: int, kind: str, value_hash: str) -> bool:
    """Forget one of the tenant's blocked values; not committed. False: there was none."""
    done = session.execute(
        sa.delete(BLOCKED).where(
            BLOCKED.c.tenant_id == tenant_id, BLOCKED.c.kind == kind, BLOCKED.c.value_hash == value_hash
        )
    )
    return bool(cast(Any, done).rowcount)
