"""A retailer's admin over HTTP and the CLI: its blocked values (the shop's own phone typed on receipts links
no buyers) and the release of a quarantined identifier (its links merge again)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.identity import views
from cloud.identity.graph import NodeKey, NodeKind
from tests.cloud.conftest import Cloud
from tests.cloud.identity.test_worked_cases import receipt

CLI = str(Path(sys.executable).with_name("echeck-cloud"))
SHOP_PHONE = "79990001122"


def test_the_admin_blocks_the_shops_phone_and_it_links_no_buyers(cloud: Cloud) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    cloud.user(t, "boss@shop.example", role="admin")
    cloud.user(t, "numbers@shop.example", role="analyst")
    with cloud.browser("numbers@shop.example") as analyst:
        assert analyst.get("/v1/identity/blocked").status_code == 403
        assert analyst.post("/v1/identity/blocked", json={"kind": "phone", "value": "1"}).status_code == 403
    with cloud.browser("boss@shop.example") as office:
        bad = office.post("/v1/identity/blocked", json={"kind": "phone", "value": "12345"})
        assert bad.status_code == 422, bad.text
        assert bad.json()["code"]
        added = office.post(
            "/v1/identity/blocked", json={"kind": "phone", "value": "8 (999) 000-11-22"}
        ).json()
        assert added["note"] == "+7 *** ***-11-22"  # masked, never the raw phone
        assert added["hash"] == cloud.keys.hash(SHOP_PHONE)
        listed = office.get("/v1/identity/blocked").json()["blocked"]
        assert [(b["kind"], b["hash"]) for b in listed] == [("phone", added["hash"])]
        assert SHOP_PHONE not in json.dumps(listed)

        shop = {"kind": "phone", "value": SHOP_PHONE}
        ids = [receipt(cloud, reg, n, shop, loyalty_card=f"3000{n:04d}") for n in (1, 2)]
        cloud.run_jobs()
        with cloud.session() as s:
            node = views.node_id(s, NodeKey(NodeKind.PHONE, cloud.keys.hash(SHOP_PHONE)))
            assert node is not None
            # the shop's phone links neither card and is nobody's: each receipt is its card holder's
            assert views.tenant_profile_of(s, t, node) is None
            profiles = views.profiles_for_receipts(s, t, ids)
            assert len(set(profiles.values())) == 2
            for profile in profiles.values():
                assert node not in [n.id for n in views.tenant_nodes(s, t, profile)]
            reasons = s.execute(
                sa.text("SELECT reason FROM identity_edge WHERE a_id = :n OR b_id = :n"), {"n": node}
            ).scalars()
            assert set(reasons) == {"blocked"}

        gone = office.delete(f"/v1/identity/blocked/phone/{added['hash']}")
        assert gone.status_code == 200
        assert gone.json()["removed"] is True
        assert office.get("/v1/identity/blocked").json() == {"blocked": []}
        assert office.delete(f"/v1/identity/blocked/phone/{added['hash']}").status_code == 404


@pytest.mark.parametrize("released_by_page", [False, True], ids=["api", "page"])
def test_the_admin_releases_a_quarantined_phone_and_its_links_merge_again(
    cloud: Cloud, released_by_page: bool
) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    other = cloud.tenant("Beta")[0]
    cashier = {"kind": "phone", "value": SHOP_PHONE}
    for n in range(1, 8):  # seven cards with one phone: a hub, quarantined
        receipt(cloud, reg, n, cashier, loyalty_card=f"2000{n:04d}")
    cloud.run_jobs()
    with cloud.session() as s:
        node = views.node_id(s, NodeKey(NodeKind.PHONE, cloud.keys.hash(SHOP_PHONE)))
        assert node is not None
        assert views.profile_of(s, node) is None
    cloud.user(t, "boss@shop.example", role="admin")
    cloud.user(other, "beta@shop.example", role="admin")
    with cloud.browser("beta@shop.example") as stranger:  # not an identifier Beta ever saw
        assert stranger.post(f"/v1/identity/identifiers/{node}/release").status_code == 404
    with cloud.browser("boss@shop.example") as office:
        page = office.get("/identity")
        assert page.status_code == 200
        assert "На карантине" in page.text
        assert "+7 *** ***-11-22" in page.text
        assert f"/identity/identifiers/{node}/release" in page.text
        if released_by_page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            done = office.post(f"/identity/identifiers/{node}/release", data={"csrf": csrf.group(1)})
            assert done.status_code == 303
        else:
            done = office.post(f"/v1/identity/identifiers/{node}/release")
            assert done.status_code == 200, done.text
            assert done.json()["released"] is True
        again = office.post(f"/v1/identity/identifiers/{node}/release")
        assert again.status_code == 422
        assert "На карантине" not in office.get("/identity").text
    with cloud.session() as s:
        profile = views.tenant_profile_of(s, t, node)
        assert profile is not None
        assert len(views.tenant_nodes(s, t, profile)) >= 6  # the phone and the cards linked again


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "--database-url", url, "identity", *args], capture_output=True, text=True, timeout=60
    )


def test_the_cli_lists_adds_and_removes_blocked_values(cloud: Cloud) -> None:
    t = cloud.tenant()[0]
    added = _cli(
        cloud.url,
        "block",
        "add",
        "--tenant",
        str(t),
        "--kind",
        "email",
        "--value",
        "Shop@Example.RU",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert doc["note"] == "s***@example.ru"
    listed = _cli(cloud.url, "block", "list", "--tenant", str(t))
    assert doc["hash"] in listed.stdout
    assert "shop@example.ru" not in listed.stdout.lower()
    bad = _cli(cloud.url, "block", "add", "--tenant", str(t), "--kind", "email", "--value", "nope")
    assert bad.returncode == 1
    assert "value:" in bad.stderr
    removed = _cli(cloud.url, "block", "remove", "--tenant", str(t), "--kind", "email", "--hash", doc["hash"])
    assert removed.returncode == 0, removed.stderr
    assert json.loads(_cli(cloud.url, "block", "list", "--tenant", str(t), "--json").stdout) == {
        "blocked": []
    }
    again = _cli(cloud.url, "block", "remove", "--tenant", str(t), "--kind", "email", "--hash", doc["hash"])
    assert again.returncode == 1


def test_a_value_blocked_after_it_linked_is_unlinked_for_that_tenant_only(cloud: Cloud) -> None:
    """Blocked: the value links nothing and resolves to no profile for the tenant that blocked it, its
    earlier links included; another retailer's links with the same phone are untouched."""
    reg = cloud.register()
    t = reg.tenant_id
    beta = cloud.register(cloud.tenant("Beta"))
    shop = {"kind": "phone", "value": SHOP_PHONE}
    first = receipt(cloud, reg, 1, shop, loyalty_card="30000001")  # before the block: phone + card link
    elsewhere = receipt(cloud, beta, 1, shop, loyalty_card="40000001")  # Beta's buyer with that phone
    cloud.run_jobs()
    phone = NodeKey(NodeKind.PHONE, cloud.keys.hash(SHOP_PHONE))
    with cloud.session() as s:
        linked = views.profiles_for_receipts(s, t, [first])[first]
        assert views.tenant_profile_of(s, t, phone) == linked
    cloud.user(t, "boss@shop.example", role="admin")
    with cloud.browser("boss@shop.example") as office:
        added = office.post("/v1/identity/blocked", json={"kind": "phone", "value": SHOP_PHONE})
        assert added.status_code == 200, added.text
        assert added.json()["unlinked"] == 1
    later = receipt(cloud, reg, 2, shop, loyalty_card="30000002")
    alone = receipt(cloud, reg, 3, shop)
    cloud.run_jobs()
    with cloud.session() as s:
        node = views.node_id(s, phone)
        assert node is not None
        assert views.tenant_profile_of(s, t, node) is None
        found = views.profiles_for_receipts(s, t, [first, later, alone])
        assert alone not in found  # the shop's phone alone: nobody
        assert found[first] != found[later]  # each card its own buyer, the phone joins none
        for profile in found.values():
            assert [n.kind for n in views.tenant_nodes(s, t, profile)] == ["card"]
            assert views.why(s, t, node, views.tenant_nodes(s, t, profile)[0].id or 0) is None
        # Beta never blocked it: its buyer's phone and card are one profile
        mine = views.profiles_for_receipts(s, beta.tenant_id, [elsewhere])[elsewhere]
        assert views.tenant_profile_of(s, beta.tenant_id, node) == mine
        assert sorted(n.kind for n in views.tenant_nodes(s, beta.tenant_id, mine)) == ["card", "phone"]
    with cloud.browser("boss@shop.example") as office:
        assert office.get(f"/v1/identity/receipts/{alone}/profile").status_code == 404
        doc = office.get(f"/v1/identity/profiles/{found[first]}").json()
        assert "+7 *** ***-11-22" not in json.dumps(doc)


def test_a_release_is_the_releasing_tenants_alone(cloud: Cloud) -> None:
    """One phone typed on many cards at two retailers: a hub for both. Acme's release joins Acme's links
    again; for Beta the phone is still a hub that belongs to nobody, until Beta releases it too."""
    acme = cloud.register()
    beta = cloud.register(cloud.tenant("Beta"))
    cashier = {"kind": "phone", "value": SHOP_PHONE}
    acme_ids = [receipt(cloud, acme, n, cashier, loyalty_card=f"5000{n:04d}") for n in range(1, 8)]
    beta_ids = [receipt(cloud, beta, n, cashier, loyalty_card=f"6000{n:04d}") for n in range(1, 8)]
    cloud.run_jobs()
    phone = NodeKey(NodeKind.PHONE, cloud.keys.hash(SHOP_PHONE))
    with cloud.session() as s:
        node = views.node_id(s, phone)
        assert node is not None
        beta_before = views.profiles_for_receipts(s, beta.tenant_id, beta_ids)
    assert len(set(beta_before.values())) == 7  # seven cards, nobody merged
    cloud.user(acme.tenant_id, "boss@acme.example", role="admin")
    cloud.user(beta.tenant_id, "boss@beta.example", role="admin")
    with cloud.browser("boss@acme.example") as office:
        done = office.post(f"/v1/identity/identifiers/{node}/release")
        assert done.status_code == 200, done.text
        assert done.json()["profile_id"] is not None
        assert office.post(f"/v1/identity/identifiers/{node}/release").status_code == 422
        assert "На карантине" not in office.get("/identity").text
    with cloud.session() as s:
        acme_profiles = views.profiles_for_receipts(s, acme.tenant_id, acme_ids)
        assert len(set(acme_profiles.values())) == 1  # Acme's cards and the phone: one again
        assert views.tenant_profile_of(s, acme.tenant_id, node) == acme_profiles[acme_ids[0]]
        # Beta: the same as before Acme's release
        assert views.tenant_profile_of(s, beta.tenant_id, node) is None
        assert views.profiles_for_receipts(s, beta.tenant_id, beta_ids) == beta_before
        for profile in beta_before.values():
            assert [n.kind for n in views.tenant_nodes(s, beta.tenant_id, profile)] == ["card"]
    with cloud.browser("boss@beta.example") as office:
        page = office.get("/identity").text
        assert "На карантине" in page
        assert "+7 *** ***-11-22" in page
        # a new Beta receipt with that phone still links nothing at Beta
        receipt(cloud, beta, 8, cashier, loyalty_card="60000008")
        cloud.run_jobs()
        with cloud.session() as s:
            assert views.tenant_profile_of(s, beta.tenant_id, node) is None
        assert office.post(f"/v1/identity/identifiers/{node}/release").status_code == 200
    with cloud.session() as s:
        beta_after = views.profiles_for_receipts(s, beta.tenant_id, beta_ids)
        assert len(set(beta_after.values())) == 1  # Beta's own release, Beta's own links
    rebuilt = _cli(cloud.url, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    with cloud.session() as s:  # the rebuild keeps both tenants' releases as the linker did
        assert views.profiles_for_receipts(s, beta.tenant_id, beta_ids) == beta_after
        assert views.profiles_for_receipts(s, acme.tenant_id, acme_ids) == acme_profiles
