"""A receipt's contact and a web site's SHA-256 of it give one identity key (docs/tracking.md)."""

import pytest

from cloud.privacy.keys import IdentityKeys
from receipts.contact import (
    InvalidContact,
    hash_identifier,
    identity_hash,
    identity_hash_of_sha256,
    normalize_email,
    normalize_phone,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    "normalized",
    [normalize_phone("8 (916) 123-45-67"), normalize_email(" John_Smith@Gmail.com "), "16505551212"],
)
def test_both_paths_give_the_same_identity_key(normalized: str) -> None:
    from_receipt = identity_hash(KEY, normalized)
    from_browser = identity_hash_of_sha256(KEY, hash_identifier(normalized))
    assert from_receipt == from_browser
    assert from_receipt != hash_identifier(normalized)  # keyed: not the SHA-256 anyone can compute
    assert identity_hash(b"x" * 32, normalized) != from_receipt


def test_identity_keys_use_the_current_key_and_list_every_key() -> None:
    keys = IdentityKeys.parse("v1:" + "a2V5LW9uZS1rZXktb25lLWtleS1vbmU=").rotated()
    phone = normalize_phone("+7 916 123 45 67")
    assert keys.identity(phone) == keys.identity_of_sha256(hash_identifier(phone))
    assert keys.identity(phone) in keys.every_identity(phone)
    assert len(keys.every_identity(phone)) == 2


def test_a_value_that_is_not_a_sha256_is_refused() -> None:
    with pytest.raises(InvalidContact):
        identity_hash_of_sha256(KEY, "79161234567")
    with pytest.raises(InvalidContact):
        identity_hash_of_sha256(KEY, "AB" * 32)
