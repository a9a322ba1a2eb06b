"""The demo's simulated browsers: the contacts they hash are the ones the cloud keys, and a background step
of the marketing tour that breaks is recorded as a failed check (exit 3), never lost in its thread."""

import time
from pathlib import Path

import pytest

from demo import marketing, web_buyers
from receipts.contact import hash_identifier, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "spelled", ["+79161234567", "89161234567", "9161234567", "+7 916 123 45 67", "8 (916) 123-45-67"]
)
def test_a_phone_hashes_as_the_tracker_and_the_receipts_do(spelled: str) -> None:
    ours = web_buyers.normalized_phone(spelled)
    assert ours == normalize_phone(spelled)
    assert ours is not None
    assert web_buyers.sha256_hex(ours) == hash_identifier(normalize_phone(spelled))


@pytest.mark.parametrize("spelled", ["Buyer123@Example.RU", "  buyer@example.ru ", "ｂuyer@example.ru"])
def test_an_email_hashes_as_the_tracker_and_the_receipts_do(spelled: str) -> None:
    ours = web_buyers.normalized_email(spelled)
    assert ours == normalize_email(spelled)
    assert ours is not None
    assert web_buyers.sha256_hex(ours) == hash_identifier(ours)


def test_a_failed_set_up_in_the_background_is_a_failed_check_and_skips_what_needs_it(tmp_path: Path) -> None:
    campaign = marketing.Campaign(seed=1)
    # No cloud answers here and the CLI's database was never migrated: the set-up fails inside its thread.
    no_cloud = "http://127.0.0.1:9"
    unmigrated = f"sqlite:///{tmp_path / 'cloud.db'}"
    campaign.start_set_up(unmigrated, 1, no_cloud, ("a", "b"), tmp_path, [])
    started = time.monotonic()
    campaign.wait_set_up()
    assert time.monotonic() - started < marketing.BACKGROUND_WAIT_S
    [(name, why)] = campaign.run.failed
    assert name == "head office's template, promo rule, tracker"
    assert why
    assert campaign.web is None
    assert campaign.visitor is None
    campaign.start_browsing("http://127.0.0.1:9", "key", 1)  # skipped: nothing to browse with
    campaign.before_pages()
    campaign.after_pages("http://127.0.0.1:9", "key", 1, 1)
    assert len(campaign.run.failed) == 1
