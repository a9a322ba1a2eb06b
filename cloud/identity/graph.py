"""The identity graph as plain values: identifier nodes, observations (edges) with provenance, the guardrails
that decide whether an observation may merge two profiles, a union-find, and the "why" path. No I/O.

A profile is a connected component of the active edges; its id is the smallest node id in it, so the
incremental linker, a split and a full rebuild always name a component the same way (the older id
survives a merge).
"""

import re
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class NodeKind(StrEnum):
    PHONE = "phone"  # keyed hash of the normalized phone (shared by the ecosystem)
    EMAIL = "email"  # keyed hash of the normalized e-mail (shared by the ecosystem)
    BROWSER = "browser"  # `ec_bid`: "ec:<id>" from the cloud's pages (shared), "t<tenant>:<id>" from a site
    CARD = "card"  # "t<tenant>:<keyed hash>": a loyalty card is one retailer's
    USER_ID = "user_id"  # "t<tenant>:<keyed hash>": the retailer site's own user id


class Source(StrEnum):
    RECEIPT = "receipt"  # ref: the receipt id
    EVENT = "event"  # ref: the tracking event id (the retailer's site)
    PAGE = "page"  # ref: the tracking event id (the cloud's e-receipt page)


class Decision(StrEnum):
    LINKED = "linked"  # the two identifiers are one person (merged, or already in one profile)
    REFUSED = "refused"  # a guardrail said no; `reason` says which
    SEEN = "seen"  # one identifier seen alone (a receipt with only a phone): provenance, no link


# Why an edge was refused (Decision.REFUSED), stored with the edge.
BLOCKED = "blocked"  # a junk or the shop's own value
QUARANTINED = "quarantined"  # one end is a quarantined hub
HUB = "hub"  # this edge made one end a hub: it is quarantined now
UNIQUE = "unique"  # the two profiles hold different values of a unique kind (two site user ids)
CAP = "cap"  # the merged profile would hold more identifiers of a kind than the cap
REVOKED_PAIR = "revoked_pair"  # an admin split these two: the same pair never merges again by itself
OTHER_TENANT = "other_tenant"  # a click id of another retailer's receipt

MAX_VALUE = 80


@dataclass(frozen=True, slots=True, order=True)
class NodeKey:
    kind: NodeKind
    value: str

    def __post_init__(self) -> None:
        if not 0 < len(self.value) <= MAX_VALUE:
            raise ValueError(f"{self.kind} node value must be 1..{MAX_VALUE} characters")


def site_browser(tenant_id: int, browser_id: str) -> NodeKey:
    """A browser id set by a retailer's site: first-party to that site, so it is that tenant's."""
    return NodeKey(NodeKind.BROWSER, f"t{tenant_id}:{browser_id}")


def page_browser(browser_id: str) -> NodeKey:
    """A browser id set by the cloud's e-receipt pages: one cookie for every retailer's receipts."""
    return NodeKey(NodeKind.BROWSER, f"ec:{browser_id}")


def tenant_scoped(kind: NodeKind, tenant_id: int, hashed: str) -> NodeKey:
    """A loyalty card or a site user id: the same number at two retailers is two different people."""
    return NodeKey(kind, f"t{tenant_id}:{hashed}")


# --- guardrails ---------------------------------------------------------------------------------------

JUNK_PATTERN = re.compile(r"^[0-]*$")
# Values systems put where they have none (PostHog #12008, Segment, RudderStack): blocked in every kind,
# compared raw where the value is raw (browser ids, cards) and in their hashed forms where it is hashed.
JUNK_VALUES = (
    "",
    "-1",
    "0",
    "null",
    "none",
    "nil",
    "nan",
    "undefined",
    "anonymous",
    "[object object]",
    "n/a",
)


def is_junk(raw: str) -> bool:
    text = raw.strip().lower()
    return bool(JUNK_PATTERN.match(text)) or text in JUNK_VALUES


@dataclass(frozen=True, slots=True)
class Cap:
    most: int  # identifiers of this kind one profile may hold
    window: timedelta | None = None  # counted among those seen within the window; None: ever


@dataclass(frozen=True, slots=True)
class Policy:
    """The guardrails (docs/identity.md): the defaults follow Segment Unify's and RudderStack's."""

    caps: Mapping[NodeKind, Cap] = field(
        default_factory=lambda: {
            NodeKind.USER_ID: Cap(1),
            NodeKind.PHONE: Cap(5),
            NodeKind.EMAIL: Cap(5),
            NodeKind.CARD: Cap(5),
            NodeKind.BROWSER: Cap(10, timedelta(days=7)),
        }
    )
    # Kinds whose two different values never share a profile, whatever the caps say (Snowplow).
    unique: frozenset[NodeKind] = frozenset({NodeKind.USER_ID})
    # A node seen with more distinct neighbours of one kind than this is a hub: a cashier's phone typed
    # on receipts of many cards and browsers, a shop's tablet. It is quarantined and links nothing.
    hub_limits: Mapping[NodeKind, int] = field(
        default_factory=lambda: {
            NodeKind.USER_ID: 3,
            NodeKind.PHONE: 5,
            NodeKind.EMAIL: 5,
            NodeKind.CARD: 5,
            NodeKind.BROWSER: 20,
        }
    )


@dataclass(frozen=True, slots=True)
class Member:
    """A node of a profile, as the guardrails see it."""

    id: int
    kind: NodeKind
    value: str
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str | None = None
    hub: int | None = None  # the node that this edge made a hub (reason HUB)

    @property
    def merges(self) -> bool:
        return self.decision is Decision.LINKED


@dataclass(frozen=True, slots=True)
class PairFacts:
    """What `decide` needs to know about one observed pair, gathered by the store."""

    a: Member
    b: Member
    a_profile: int
    b_profile: int
    a_members: tuple[Member, ...]  # everyone in a's profile (a included)
    b_members: tuple[Member, ...]
    blocked: bool = False  # either value is blocked for the observing tenant
    quarantined: bool = False  # either node is a quarantined hub
    pair_revoked: bool = False  # an admin revoked an edge between these two before
    # distinct neighbours of a among nodes of b's kind, and of b among a's kind, this edge included
    a_neighbours: int = 0
    b_neighbours: int = 0


def decide(policy: Policy, facts: PairFacts, now: datetime) -> Verdict:
    """Whether an observation of a and b together links them. Order: blocked, quarantined, hub, revoked
    pair, same profile, unique kinds, caps."""
    if facts.blocked:
        return Verdict(Decision.REFUSED, BLOCKED)
    if facts.quarantined:
        return Verdict(Decision.REFUSED, QUARANTINED)
    for node, count, other in (
        (facts.a, facts.a_neighbours, facts.b),
        (facts.b, facts.b_neighbours, facts.a),
    ):
        limit = policy.hub_limits.get(other.kind)
        if limit is not None and count > limit:
            return Verdict(Decision.REFUSED, f"{HUB}:{other.kind.value}>{limit}", hub=node.id)
    if facts.pair_revoked:
        return Verdict(Decision.REFUSED, REVOKED_PAIR)
    if facts.a_profile == facts.b_profile:
        return Verdict(Decision.LINKED)
    union = facts.a_members + facts.b_members
    for kind in sorted(policy.unique):
        values = {m.value for m in union if m.kind is kind}
        if len(values) > 1:
            return Verdict(Decision.REFUSED, f"{UNIQUE}:{kind.value}")
    for kind, cap in sorted(policy.caps.items()):
        counted = {
            m.id for m in union if m.kind is kind and (cap.window is None or m.last_seen >= now - cap.window)
        }
        if len(counted) > cap.most:
            return Verdict(Decision.REFUSED, f"{CAP}:{kind.value}>{cap.most}")
    return Verdict(Decision.LINKED)


# --- components -----------------------------------------------------------------------------------------


class UnionFind:
    """Union-find over dense integer ids; the root of a set is its smallest id (so it is the profile id).

    Path halving, no ranks: with the smallest id as the root the trees stay shallow on real graphs, and a
    node costs one 8-byte slot (1 M identifiers: 8 MB).
    """

    def __init__(self, size: int = 0) -> None:
        self._parent = array("q", range(size))

    def _grow(self, n: int) -> None:
        parent = self._parent
        if n >= len(parent):
            parent.extend(range(len(parent), n + 1))

    def find(self, n: int) -> int:
        self._grow(n)
        parent = self._parent
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self._parent[rb] = ra
        return ra

    def union_all(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Many unions at once (the rebuild's inner loop, inlined)."""
        parent = self._parent
        for a, b in pairs:
            top = a if a > b else b
            if top >= len(parent):
                parent.extend(range(len(parent), top + 1))
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            while parent[b] != b:
                parent[b] = parent[parent[b]]
                b = parent[b]
            if a < b:
                parent[b] = a
            elif b < a:
                parent[a] = b

    def roots(self, nodes: Iterable[int]) -> Iterator[tuple[int, int]]:
        """(node, its component's smallest id) for each node."""
        for n in nodes:
            yield n, self.find(n)


def components(nodes: Iterable[int], edges: Iterable[tuple[int, int]]) -> dict[int, int]:
    """node → profile id (the smallest node id of its component) for `nodes`, joined by `edges`."""
    uf = UnionFind()
    listed = list(nodes)
    for n in listed:
        uf.find(n)
    uf.union_all(edges)
    return dict(uf.roots(listed))


def shortest_path(edges: Iterable[tuple[int, int, int]], start: int, goal: int) -> list[int] | None:
    """The edge ids of a shortest chain from `start` to `goal` over (edge id, a, b), or None (BFS)."""
    if start == goal:
        return []
    adjacent: dict[int, list[tuple[int, int]]] = {}
    for edge_id, a, b in edges:
        adjacent.setdefault(a, []).append((edge_id, b))
        adjacent.setdefault(b, []).append((edge_id, a))
    came: dict[int, tuple[int, int]] = {}  # node → (edge id, previous node)
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for edge_id, other in sorted(adjacent.get(node, ())):
            if other in seen:
                continue
            seen.add(other)
            came[other] = (edge_id, node)
            if other == goal:
                chain: list[int] = []
                while other != start:
                    edge_id, other = came[other]
                    chain.append(edge_id)
                return chain[::-1]
            queue.append(other)
    return None
