"""A receipt's contact and a web site's SHA-256 of it give one keyed hash (docs/tracking.md): the
`contact_hash` of receipts, consents and deliveries is the identity graph's key."""

import pytest

from cloud.privacy.keys import IdentityKeys
from receipts.contact import (
    InvalidContact,
    hash_identifier,
    identity_hash_of_sha256,
    keyed_hash,
    legacy_keyed_hash,
    normalize_email,
    normalize_phone,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    "normalized",
    [normalize_phone("8 (916) 123-45-67"), normalize_email(" John_Smith@Gmail.com "), "16505551212"],
)
def test_both_paths_give_the_same_identity_key(normalized: str) -> None:
    from_receipt = keyed_hash(KEY, normalized)
    from_browser = identity_hash_of_sha256(KEY, hash_identifier(normalized))
    assert from_receipt == from_browser
    assert from_receipt != hash_identifier(normalized)  # keyed: not the SHA-256 anyone can compute
    assert keyed_hash(b"x" * 32, normalized) != from_receipt


def test_identity_keys_use_the_current_key_and_list_every_key() -> None:
    keys = IdentityKeys.parse("v1:" + "a2V5LW9uZS1rZXktb25lLWtleS1vbmU=").rotated()
    phone = normalize_phone("+7 916 123 45 67")
    assert keys.hash(phone) == keys.identity_of_sha256(hash_identifier(phone))
    forms = keys.every_hash(phone)
    assert keys.hash(phone) in forms
    assert len(forms) == 5  # two keys, each in today's and the pre-0.2 form, and the plain SHA-256
    assert all(legacy_keyed_hash(k, phone) in forms for k in keys.keys.values())


def test_a_value_that_is_not_a_sha256_is_refused() -> None:
    with pytest.raises(InvalidContact):
        identity_hash_of_sha256(KEY, "79161234567")
    with pytest.raises(InvalidContact):
        identity_hash_of_sha256(KEY, "AB" * 32)
