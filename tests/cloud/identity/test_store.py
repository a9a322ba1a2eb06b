"""The graph in the database: linking, guardrails (refusals recorded with their reason), undo, the merge
log, the rebuild agreeing with the incremental linker, and two workers at once."""

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from cloud.identity import store
from cloud.identity.graph import NodeKind, Source
from cloud.identity.rebuild import rebuild
from cloud.identity.store import LOG, NODE, Observation
from cloud.identity.views import why
from tests.cloud.identity.conftest import KEYS, T0, Graph, browser, card, email, phone, user

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_observations_merge_profiles_named_by_the_oldest_node(g: Graph) -> None:
    t = g.tenant("Acme")
    assert g.see(t, phone(1), source=Source.RECEIPT).verdicts[0].decision == "seen"
    g.see(t, browser(t, "b1"), email("ann"))
    assert not g.same(phone(1), email("ann"))
    g.see(t, browser(t, "b2"), email("ann"), phone(1))
    assert g.same(phone(1), email("ann"), browser(t, "b1"), browser(t, "b2"))
    assert g.profile(phone(1)) == g.id(phone(1))  # the smallest (oldest) id survives
    with g.session() as s:
        merges = s.execute(sa.select(LOG.c.action).where(LOG.c.action == "merge")).scalars().all()
    assert len(merges) == 3
    # a retried job records nothing twice
    before = g.edges()
    with g.session() as s:
        assert store.already_recorded(s, t, Source.EVENT, "ref-3")
    assert len(before) == 4


def test_junk_and_the_shops_own_values_are_refused_with_the_reason(g: Graph) -> None:
    t, other = g.tenant("Acme"), g.tenant("Beta")
    junk_card = card(t, "0000")
    g.see(t, phone(1), junk_card, source=Source.RECEIPT, junk=frozenset({junk_card}))
    null_mail = email("x").__class__(NodeKind.EMAIL, KEYS.hash("null"))
    g.see(t, browser(t, "b1"), null_mail)
    g.see(t, browser(t, "null"), phone(2))
    shop = phone(9)
    with g.session() as s:
        store.add_blocked(s, t, NodeKind.PHONE, shop.value, "телефон магазина", NOW)
        s.commit()
    g.see(t, shop, card(t, "42"), source=Source.RECEIPT)
    g.see(other, shop, card(other, "42"), source=Source.RECEIPT)  # only Acme blocked it
    assert g.edges() == [("refused", "blocked")] * 4 + [("linked", None)]
    assert not g.same(phone(1), junk_card)
    assert not g.same(shop, card(t, "42"))
    assert g.same(shop, card(other, "42"))


def test_two_site_user_ids_never_merge_and_caps_hold(g: Graph) -> None:
    t = g.tenant("Acme")
    g.see(t, browser(t, "b1"), user(t, "u1"))
    g.see(t, browser(t, "b2"), user(t, "u2"))
    verdict = g.see(t, browser(t, "b1"), email("shared")).verdicts[0]
    assert verdict.merges
    verdict = g.see(t, browser(t, "b2"), email("shared")).verdicts[0]
    assert (verdict.decision, verdict.reason) == ("refused", "unique:user_id")
    assert not g.same(user(t, "u1"), user(t, "u2"))
    for n in range(1, 7):  # six browsers, each with its own phone, each joining ann's e-mail
        g.see(t, browser(t, f"x{n}"), phone(n))
        verdict = g.see(t, browser(t, f"x{n}"), email("ann")).verdicts[0]
        assert verdict.merges == (n <= 5)
    assert verdict.reason == "cap:phone>5"  # the sixth phone: that browser stays a profile of its own
    assert g.same(phone(6), browser(t, "x6"))
    assert not g.same(phone(6), email("ann"))
    # an e-mail typed with six phones is no person but a hub
    for n in range(10, 16):
        verdict = g.see(t, email("desk"), phone(n)).verdicts[0]
    assert verdict.reason == "hub:phone>5"


def test_a_hub_is_quarantined_and_its_merges_are_undone(g: Graph) -> None:
    t = g.tenant("Acme")
    cashier = phone(77)
    for n in range(1, 8):  # the cashier's own phone typed on receipts of seven loyalty cards
        g.see(t, cashier, card(t, f"card-{n}"), source=Source.RECEIPT)
    with g.session() as s:
        row = s.execute(
            sa.select(NODE.c.quarantined_at, NODE.c.quarantine_reason).where(NODE.c.id == g.id(cashier))
        ).one()
        actions = s.execute(sa.select(LOG.c.action).order_by(LOG.c.id)).scalars().all()
    assert row.quarantined_at is not None
    assert row.quarantine_reason == "hub:card>5"
    assert len({g.profile(card(t, f"card-{n}")) for n in range(1, 8)}) == 7  # nobody merged
    assert [d for d, _ in g.edges()] == ["linked"] * 5 + ["refused"] * 2
    assert g.edges()[5:] == [("refused", "hub:card>5"), ("refused", "quarantined")]
    assert "quarantine" in actions
    assert actions.count("split") == 5
    assert g.see(t, cashier, email("x")).verdicts[0].reason == "quarantined"


def test_an_admin_splits_a_wrong_merge_and_why_shows_the_chain(g: Graph) -> None:
    t = g.tenant("Acme")
    g.see(t, browser(t, "b1"), email("ann"))
    g.see(t, email("ann"), phone(1), source=Source.RECEIPT)
    g.see(t, browser(t, "b1"), phone(2))  # a family laptop: the wrong link
    assert g.same(phone(1), phone(2))
    with g.session() as s:
        steps = why(s, t, g.id(phone(1)), g.id(phone(2)))
        assert steps is not None
        assert [x.kind for x in steps] == ["edge"] * 3
        assert [x.source for x in steps] == ["receipt", "event", "event"]
        bad = steps[-1].edge_id
        assert bad is not None
        with store.graph_lock(s):
            mapping = store.revoke(
                s, bad, NOW, by="admin:boss@acme.ru", reason="семейный ноутбук", tenant_id=t
            )
            s.commit()
    assert len(set(mapping.values())) == 2
    assert not g.same(phone(1), phone(2))
    assert g.same(phone(1), browser(t, "b1"))
    with g.session() as s:
        assert why(s, t, g.id(phone(1)), g.id(phone(2))) is None
        actions = s.execute(sa.select(LOG.c.action).order_by(LOG.c.id)).scalars().all()
    assert actions[-2:] == ["split", "revoke"]
    # the same pair seen again does not re-merge by itself
    assert g.see(t, browser(t, "b1"), phone(2)).verdicts[0].reason == "revoked_pair"
    assert not g.same(phone(1), phone(2))


def test_the_rebuild_finds_what_the_incremental_linker_kept(g: Graph) -> None:
    t = g.tenant("Acme")
    for n in range(30):
        g.see(t, browser(t, f"b{n}"), email(f"p{n % 7}"))
        g.see(t, email(f"p{n % 7}"), phone(n % 11), source=Source.RECEIPT)
    for n in range(1, 8):
        g.see(t, phone(500), card(t, f"c{n}"), source=Source.RECEIPT)
    before = g.mapping()
    with g.session() as s:  # scramble the mapping: the rebuild must restore it
        s.execute(sa.update(store.MEMBER).values(profile_id=store.MEMBER.c.node_id))
        s.commit()
    done = rebuild(g.engine, NOW)
    assert g.mapping() == before
    assert done.nodes == len(before)
    assert done.profiles == len(set(before.values()))
    with g.session() as s:
        profiles = set(s.execute(sa.select(store.PROFILE.c.id)).scalars())
    assert profiles == set(before.values())


def test_two_workers_linking_at_once_keep_every_component_whole(g: Graph) -> None:
    """Two linkers (threads, each its own connection) link overlapping observations; afterwards the
    mapping is exactly the components of the active edges (the rebuild changes nothing)."""
    t = g.tenant("Acme")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(40):
                # chains that cross: each worker's observations join the other's profiles
                keys = (email(f"e{n % 13}"), phone((n * 7 + worker) % 17))
                at = T0
                obs = Observation(t, Source.EVENT, f"w{worker}-{n}", at, keys)
                for attempt in range(5):
                    try:
                        g.linker.link(obs)
                        break
                    except sa.exc.OperationalError:  # a deadlock PostgreSQL broke: the job is retried
                        if attempt == 4:
                            raise
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    before = g.mapping()
    assert rebuild(g.engine, NOW).changed == 0
    assert g.mapping() == before
