"""The pure graph: guardrail decisions, the union-find and the "why" path, without a database."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from cloud.identity import graph
from cloud.identity.graph import Decision, Member, NodeKey, NodeKind, PairFacts, Policy, UnionFind

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def m(node_id: int, kind: NodeKind, value: str | None = None, age: timedelta = timedelta(0)) -> Member:
    return Member(node_id, kind, value or f"{kind.value}-{node_id}", NOW - age)


def facts(a_members: list[Member], b_members: list[Member], **kw: object) -> PairFacts:
    a, b = a_members[0], b_members[0]
    base = {"a_neighbours": 1, "b_neighbours": 1}
    base.update(kw)
    return PairFacts(
        a=a,
        b=b,
        a_profile=min(x.id for x in a_members),
        b_profile=min(x.id for x in b_members),
        a_members=tuple(a_members),
        b_members=tuple(b_members),
        **base,  # type: ignore[arg-type]
    )


def test_two_identifiers_of_different_profiles_link() -> None:
    verdict = graph.decide(Policy(), facts([m(1, NodeKind.BROWSER)], [m(2, NodeKind.EMAIL)]), NOW)
    assert verdict.decision is Decision.LINKED
    assert verdict.reason is None


@pytest.mark.parametrize(
    ("flag", "reason"),
    [("blocked", graph.BLOCKED), ("quarantined", graph.QUARANTINED), ("pair_revoked", graph.REVOKED_PAIR)],
)
def test_blocked_quarantined_and_revoked_pairs_are_refused_with_their_reason(flag: str, reason: str) -> None:
    verdict = graph.decide(
        Policy(), facts([m(1, NodeKind.PHONE)], [m(2, NodeKind.CARD)], **{flag: True}), NOW
    )
    assert (verdict.decision, verdict.reason) == (Decision.REFUSED, reason)


def test_two_different_site_user_ids_never_share_a_profile() -> None:
    left = [m(1, NodeKind.BROWSER), m(3, NodeKind.USER_ID, "t1:u1")]
    right = [m(2, NodeKind.EMAIL), m(4, NodeKind.USER_ID, "t1:u2")]
    verdict = graph.decide(Policy(), facts(left, right), NOW)
    assert (verdict.decision, verdict.reason) == (Decision.REFUSED, "unique:user_id")
    same = [m(2, NodeKind.EMAIL), m(3, NodeKind.USER_ID, "t1:u1")]
    assert graph.decide(Policy(), facts(left, same), NOW).merges  # one value twice is no conflict


def test_caps_count_identifiers_of_a_kind_within_their_window() -> None:
    five_phones = [m(i, NodeKind.PHONE) for i in range(1, 6)]
    verdict = graph.decide(Policy(), facts(five_phones, [m(9, NodeKind.PHONE)]), NOW)
    assert (verdict.decision, verdict.reason) == (Decision.REFUSED, "cap:phone>5")
    # browsers: 10 per week; older ones do not count
    old = [m(i, NodeKind.BROWSER, age=timedelta(days=30)) for i in range(1, 12)]
    assert graph.decide(Policy(), facts(old, [m(20, NodeKind.BROWSER)]), NOW).merges
    recent = [m(i, NodeKind.BROWSER, age=timedelta(days=1)) for i in range(1, 11)]
    assert graph.decide(Policy(), facts(recent, [m(20, NodeKind.BROWSER)]), NOW).reason == "cap:browser>10"


def test_a_node_with_too_many_distinct_neighbours_of_one_kind_is_a_hub() -> None:
    verdict = graph.decide(
        Policy(), facts([m(1, NodeKind.PHONE)], [m(2, NodeKind.CARD)], a_neighbours=6), NOW
    )
    assert verdict.decision is Decision.REFUSED
    assert verdict.reason == "hub:card>5"
    assert verdict.hub == 1
    verdict = graph.decide(
        Policy(), facts([m(1, NodeKind.PHONE)], [m(2, NodeKind.BROWSER)], b_neighbours=6), NOW
    )
    assert verdict.reason == "hub:phone>5"
    assert verdict.hub == 2


def test_junk_values() -> None:
    for junk in ("", "0000", "0-0-0", "-1", "NULL", " anonymous ", "undefined"):
        assert graph.is_junk(junk), junk
    assert not graph.is_junk("4276 1234")
    with pytest.raises(ValueError, match=r"1\.\.80"):
        NodeKey(NodeKind.PHONE, "")


def test_union_find_names_each_component_by_its_smallest_id() -> None:
    assert graph.components([1, 2, 3, 4, 5], [(5, 3), (3, 4), (2, 1)]) == {1: 1, 2: 1, 3: 3, 4: 3, 5: 3}
    rng = random.Random(7)
    edges = [(rng.randrange(500), rng.randrange(500)) for _ in range(400)]
    uf = UnionFind()
    for a, b in edges:  # incremental, one union at a time
        uf.union(a, b)
    bulk = graph.components(range(500), edges)
    assert {n: uf.find(n) for n in range(500)} == bulk
    for n, root in bulk.items():
        assert root <= n


def test_shortest_path_is_the_chain_of_edges() -> None:
    edges = [(10, 1, 2), (11, 2, 3), (12, 3, 4), (13, 1, 5), (14, 5, 4)]
    assert graph.shortest_path(edges, 1, 4) in ([10, 11, 12], [13, 14])
    assert graph.shortest_path(edges, 1, 4) == [13, 14]  # two edges beat three
    assert graph.shortest_path(edges, 1, 1) == []
    assert graph.shortest_path(edges, 1, 99) is None
