"""The ecosystem rule: the graph is shared, each tenant sees only what its own observations produced or
used; and erasure takes a buyer's links out of the graph."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from cloud.identity import graph, views
from cloud.identity.erasure import erase_contact
from cloud.identity.graph import Source
from cloud.identity.store import EDGE, NODE, SEEN
from tests.cloud.identity.conftest import Graph, browser, card, email, phone

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def view(s: Session, tenant_id: int) -> dict[str, object]:
    """Everything tenant B can learn from the graph, by node values (profile ids are opaque numbers)."""
    seen = [
        int(n) for n in s.execute(sa.select(SEEN.c.node_id).where(SEEN.c.tenant_id == tenant_id)).scalars()
    ]
    values = {int(i): v for i, v in s.execute(sa.select(NODE.c.id, NODE.c.value))}
    profiles: set[frozenset[str]] = set()
    chains: dict[tuple[str, str], object] = {}
    for n in seen:
        profile = views.tenant_profile_of(s, tenant_id, n)
        if profile is None:
            continue
        nodes = views.tenant_nodes(s, tenant_id, profile)
        profiles.add(frozenset(x.value for x in nodes))
        for other in nodes:
            assert other.id is not None
            steps = views.why(s, tenant_id, n, other.id)
            assert steps is not None
            chains[values[n], other.value] = [(x.kind, x.source, values[x.a], values[x.b]) for x in steps]
        assert {e.event_id for e in views.events_of_profile(s, tenant_id, profile)} <= set(
            s.execute(sa.select(EDGE.c.ref).where(EDGE.c.tenant_id == tenant_id)).scalars()
        ) | {""}
    return {"profiles": profiles, "chains": chains}


def test_tenant_b_learns_nothing_of_tenant_a_s_buyers(g: Graph) -> None:
    a, b = g.tenant("Acme"), g.tenant("Beta")
    # Beta's own world
    g.see(b, browser(b, "b1"), email("bob"))
    g.see(b, email("bob"), card(b, "77"), source=Source.RECEIPT)
    g.see(b, phone(5), source=Source.RECEIPT)
    with g.session() as s:
        alone = view(s, b)
    # Acme's buyers: one who never met Beta, and Bob, who shops at Acme too (same e-mail, other phone)
    g.see(a, browser(a, "a1"), email("ann"))
    g.see(a, email("ann"), phone(1), card(a, "1"), source=Source.RECEIPT)
    g.see(a, graph.page_browser("X"), phone(1), source=Source.PAGE)
    g.see(a, email("bob"), phone(2), source=Source.RECEIPT)
    g.see(a, browser(a, "a2"), phone(2), email("bob"))
    assert g.same(email("bob"), phone(2), card(b, "77"))  # one global profile ...
    with g.session() as s:
        assert view(s, b) == alone  # ... of which Beta sees exactly what it saw before
        for key in (
            email("ann"),
            phone(1),
            phone(2),
            browser(a, "a1"),
            card(a, "1"),
            graph.page_browser("X"),
        ):
            node = views.node_id(s, key)
            assert node is not None
            assert views.tenant_profile_of(s, b, node) is None  # Acme's identifiers do not exist for Beta
        bob = views.tenant_profile_of(s, b, email("bob"))
        assert bob is not None
        shown = {n.value for n in views.tenant_nodes(s, b, bob)}
        assert shown == {email("bob").value, card(b, "77").value, browser(b, "b1").value}
        assert views.why(s, b, g.id(email("bob")), g.id(phone(2))) is None  # Beta never saw that phone


def test_a_link_another_tenant_made_joins_two_identifiers_a_tenant_saw_itself(g: Graph) -> None:
    """Used, not shown: Ann opens Acme's e-receipt and Beta's in the same browser (the cloud's page cookie
    is one for every retailer); Beta sees its own two identifiers as one profile, and the link between
    them that Acme's observation made as one step without provenance."""
    a, b = g.tenant("Acme"), g.tenant("Beta")
    page = graph.page_browser("X")
    g.see(a, phone(1), source=Source.RECEIPT)
    g.see(a, page, phone(1), source=Source.PAGE)  # Acme's page: browser X opens Acme's receipt
    g.see(b, email("ann"), source=Source.RECEIPT)
    g.see(b, phone(1), source=Source.RECEIPT)  # Beta's receipt with the same phone
    g.see(b, page, email("ann"), source=Source.PAGE)  # Beta's page, browser X
    with g.session() as s:
        profile = views.tenant_profile_of(s, b, phone(1))
        assert profile is not None
        assert {n.value for n in views.tenant_nodes(s, b, profile)} == {
            phone(1).value,
            email("ann").value,
            page.value,
        }
        steps = views.why(s, b, g.id(phone(1)), g.id(email("ann")))
        assert steps is not None
        assert [(x.kind, x.source, x.ref) for x in steps] == [
            ("ecosystem", None, None),
            ("edge", "page", "ref-5"),
        ]
        acme = views.tenant_profile_of(s, a, phone(1))
        assert acme is not None
        assert {n.value for n in views.tenant_nodes(s, a, acme)} == {phone(1).value, page.value}  # no e-mail


def test_erasure_removes_the_buyers_nodes_links_and_what_only_they_explained(g: Graph) -> None:
    a, b = g.tenant("Acme"), g.tenant("Beta")
    g.see(a, browser(a, "a1"), email("ann"))
    g.see(a, email("ann"), phone(1), source=Source.RECEIPT)
    g.see(a, browser(a, "a2"), phone(1))
    g.see(b, phone(1), source=Source.RECEIPT)
    with g.session() as s:  # at Acme: Acme's links go, Beta's sighting of the phone stays
        assert erase_contact(s, [phone(1).value], a, NOW) > 0
        s.commit()
    with g.session() as s:
        assert views.node_id(s, browser(a, "a2")) is None  # known only through the phone
        assert views.tenant_profile_of(s, a, phone(1)) is None
        assert views.tenant_profile_of(s, b, phone(1)) is not None
        erase_contact(s, [phone(1).value], None, NOW)  # everywhere
        s.commit()
        assert views.node_id(s, phone(1)) is None
        left = s.execute(
            sa.select(EDGE.c.id).where(
                sa.or_(EDGE.c.a_id == g.id(email("ann")), EDGE.c.b_id == g.id(email("ann")))
            )
        ).all()
        assert len(left) == 1  # ann's e-mail with her first browser: another contact, not erased
    assert g.same(email("ann"), browser(a, "a1"))
