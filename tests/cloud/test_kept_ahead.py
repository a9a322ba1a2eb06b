"""Pages kept ahead of their first fetch (cloud.pages.kept_ahead, PostgreSQL): storing a receipt with a
contact keeps its page, so the first fetch is the kept page, with the path it was fetched by wherever the
page names itself; a template that draws something at the first fetch (a promo code) is not rendered
ahead; on SQLite nothing is kept ahead (the first fetch keeps the page)."""

import re

import sqlalchemy as sa

from cloud.db.types import utcnow
from cloud.pages import kept_ahead
from cloud.pages.blocks import Block, BlockType, Template, default_template
from cloud.pages.models import PageKept
from cloud.pages.promo import service as promo
from cloud.pages.promo.models import PromoCode
from cloud.pages.promo.rules import Rule as PromoRule
from cloud.tracking.events import EventType
from cloud.tracking.store import events_where
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, now_utc
from tests.cloud.test_page_blocks import _publish
from tests.cloud.test_page_kept import BROWSER, MARK, _fetch, _link, _mark_kept
from tests.support.receipts import wire_receipt


def _kept_ids(cloud: Cloud) -> set[int]:
    with cloud.engine.connect() as conn:
        return set(conn.execute(sa.select(PageKept.receipt_id)).scalars())  # type: ignore[call-overload]


def test_a_stored_receipts_page_is_kept_before_its_first_fetch_which_serves_it(cloud: Cloud) -> None:
    reg = cloud.register()
    path = _link(cloud, reg, 1)  # stored, and the jobs run: the delivery, and the page kept ahead
    if not cloud.url.startswith("postgresql"):
        assert _kept_ids(cloud) == set()  # SQLite: the first fetch renders and keeps it
        return
    assert len(_kept_ids(cloud)) == 1
    _mark_kept(cloud)
    first = cloud.http.get(path, headers=BROWSER)
    assert first.status_code == 200
    assert MARK in first.text  # the very first fetch is the kept page
    backs = re.findall(r'name="back" value="([^"]*)"', first.text)
    assert backs
    assert set(backs) == {path}  # the forms return to the path this fetch asked for
    assert f'href="{path}/receipt.pdf"' in first.text
    assert "\ue000" not in first.text
    with cloud.session() as s:
        fetches = events_where(s, reg.tenant_id, types=[EventType.RECEIPT_FETCH])
    assert len(fetches) == 1  # a fetch all the same


def test_a_template_that_issues_promo_codes_is_rendered_at_the_first_fetch_not_ahead(cloud: Cloud) -> None:
    reg = cloud.register()
    with cloud.session() as s:
        promo.save_rule(s, reg.tenant_id, PromoRule(name="now", percent=10, valid_days=14), "test", now_utc())
    blocks = [
        *default_template().blocks,
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "now"}),
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    path = _link(cloud, reg, 2)
    assert _kept_ids(cloud) == set()
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PromoCode)).scalar_one() == 0
    assert cloud.http.get(path, headers=BROWSER).status_code == 200
    with cloud.session() as s:  # the code is the buyer's first fetch's
        assert s.execute(sa.select(sa.func.count()).select_from(PromoCode)).scalar_one() == 1


def test_keeping_ahead_skips_receipts_without_a_contact_and_pages_already_current(cloud: Cloud) -> None:
    reg = cloud.register()
    _link(cloud, reg, 3)
    if not cloud.url.startswith("postgresql"):
        _fetch(cloud, _link(cloud, reg, 5))  # no job on SQLite: a fetch keeps one page
        with cloud.session() as s:
            ids = [r for r in s.execute(sa.text("SELECT id FROM receipt ORDER BY id")).scalars()]
            assert kept_ahead.keep_ahead(s, cloud.keys, ids, utcnow()) == 1  # the one not fetched
        return
    stored = cloud.http.post(
        batch_path(reg.store_id), json={"receipts": [wire_receipt(4, contact=None)]}, headers=reg.auth
    )
    assert stored.json()["accepted"][0]["status"] == "stored"
    cloud.run_jobs()
    with cloud.engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM receipt ORDER BY id")).scalars())
    assert len(ids) == 2
    assert len(_kept_ids(cloud)) == 1  # the receipt without a contact gets no link, so no page kept
    with cloud.session() as s:
        assert kept_ahead.keep_ahead(s, cloud.keys, ids, utcnow()) == 0  # the other is current already
        with cloud.engine.begin() as conn:
            conn.execute(sa.update(PageKept).values(stamp="0" * 32))
        assert kept_ahead.keep_ahead(s, cloud.keys, ids, utcnow()) == 1  # stale: rendered again
