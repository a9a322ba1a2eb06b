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
            profile = views.profile_of(s, node)
            assert profile is not None
            # the shop's phone links neither card: its profile is the phone alone
            assert [n.id for n in views.tenant_nodes(s, t, profile)] == [node]
            reasons = s.execute(
                sa.text("SELECT reason FROM identity_edge WHERE a_id = :n OR b_id = :n"), {"n": node}
            ).scalars()
            assert set(reasons) == {"blocked"}
        assert len(ids) == 2

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
        profile = views.profile_of(s, node)
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
