"""Click ids: opaque, stable per receipt and block, 30 days valid, and links that cannot be re-aimed."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from cloud.tracking.click_ids import ClickIds, ClickRef, with_click_id

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
KEY, OLD_KEY = b"k" * 32, b"o" * 32


def test_a_click_id_names_its_receipt_and_block_and_nothing_else_reads_it() -> None:
    ids = ClickIds([KEY])
    token = ids.issue(123456, "banner-1", NOW)
    assert token == ids.issue(123456, "banner-1", NOW + timedelta(hours=1))  # the same bytes on reload
    assert "123456" not in token
    assert len(token) < 64
    assert ids.read(token, NOW) == ClickRef(123456, "banner-1", datetime(2026, 12, 1, tzinfo=UTC))
    assert ClickIds([b"x" * 32]).read(token, NOW) is None  # another cloud's key
    assert ids.read(token[:-2] + "AA", NOW) is None
    assert ids.read("%%%", NOW) is None


def test_a_click_id_expires_after_30_days_and_survives_key_rotation() -> None:
    token = ClickIds([OLD_KEY]).issue(5, "promo", NOW)
    rotated = ClickIds([KEY, OLD_KEY])
    assert rotated.read(token, NOW + timedelta(days=29)) is not None
    assert rotated.read(token, NOW + timedelta(days=32)) is None


def test_a_redirect_link_is_signed_over_its_target() -> None:
    ids = ClickIds([KEY])
    path = ids.outbound_path(9, "banner-1", "https://shop.example/sale?x=1", NOW)
    parts = urlsplit(path)
    token = parts.path.removeprefix("/c/")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["to"] == "https://shop.example/sale?x=1"
    assert ids.verify_target(token, query["to"], query["s"])
    assert not ids.verify_target(token, "https://evil.example/", query["s"])


def test_the_target_gets_the_click_id_in_its_query() -> None:
    assert with_click_id("https://shop.example/p?a=1&ec_click=old#top", "T") == (
        "https://shop.example/p?a=1&ec_click=T#top"
    )
