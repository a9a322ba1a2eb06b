"""The identity key: the secret behind the keyed hashes (HMAC-SHA256) of phones and e-mails.

A plain SHA-256 of a phone is reversed by enumerating 10⁹ numbers; an HMAC with a key that is not in the
database is not. The key is configuration, never a table: `ECHECK_IDENTITY_KEY` (every host of a
deployment must have the same one), else a file beside the SQLite database or in the cloud's data
directory, created with 0600 on first use.

Rotation: the value is a list, newest first (`v2:<base64>,v1:<base64>`). New hashes use the first key;
`echeck-cloud privacy rekey` re-keys every row whose raw contact is still kept, and lookups (erasure,
delivery) try every listed key for the rows whose raw contact was already purged.
"""

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import sqlalchemy as sa

from receipts.contact import hash_identifier, identity_hash_of_sha256, keyed_hash, legacy_keyed_hash

IDENTITY_KEY_ENV = "ECHECK_IDENTITY_KEY"
KEY_FILE_NAME = "identity-keys"
MIN_KEY_BYTES = 16


class IdentityKeyError(ValueError):
    """The configured key cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    current: str
    keys: Mapping[str, bytes]

    def hash(self, normalized: str) -> str:
        """The keyed hash new rows get."""
        return keyed_hash(self.keys[self.current], normalized)

    def identity_of_sha256(self, sha256_hex: str) -> str:
        """The identity key of a contact known only by its plain SHA-256 (what the tracker sends)."""
        return identity_hash_of_sha256(self.keys[self.current], sha256_hex)

    def every_hash(self, normalized: str) -> list[str]:
        """Every form a stored row may hold: each key's, each key's pre-0.2 form, and the plain SHA-256 of
        rows from before keys."""
        keys = self.keys.values()
        return [
            *(keyed_hash(k, normalized) for k in keys),
            *(legacy_keyed_hash(k, normalized) for k in keys),
            hash_identifier(normalized),
        ]

    @classmethod
    def parse(cls, text: str) -> "IdentityKeys":
        keys: dict[str, bytes] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            version, sep, encoded = part.partition(":")
            if not sep or not version:
                raise IdentityKeyError("identity key must be 'version:base64' entries, newest first")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise IdentityKeyError(f"identity key {version!r} is not base64") from exc
            if len(raw) < MIN_KEY_BYTES:
                raise IdentityKeyError(f"identity key {version!r} is shorter than {MIN_KEY_BYTES} bytes")
            keys[version] = raw
        if not keys:
            raise IdentityKeyError("identity key is empty")
        return cls(current=next(iter(keys)), keys=keys)

    def render(self) -> str:
        return ",".join(f"{v}:{base64.b64encode(k).decode()}" for v, k in self.keys.items())

    def rotated(self) -> "IdentityKeys":
        """A new current key in front of the old ones."""
        number = 1 + max((int(v[1:]) for v in self.keys if v[1:].isdigit()), default=0)
        version = f"v{number}"
        return IdentityKeys(version, {version: secrets.token_bytes(32), **self.keys})


def key_file(database_url: str) -> Path:
    """Beside a SQLite database; otherwise in the cloud's data directory."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE_NAME
    return Path(platformdirs.user_data_dir("echeck")) / KEY_FILE_NAME


def load_identity_keys(database_url: str, environ: Mapping[str, str] = os.environ) -> IdentityKeys:
    """The keys from the environment, else from the key file, which is created on first use."""
    if environ.get(IDENTITY_KEY_ENV):
        return IdentityKeys.parse(environ[IDENTITY_KEY_ENV])
    path = key_file(database_url)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = IdentityKeys("v1", {"v1": secrets.token_bytes(32)})
        save_identity_keys(path, fresh)
    return IdentityKeys.parse(path.read_text(encoding="utf-8"))


def save_identity_keys(path: Path, keys: IdentityKeys) -> None:
    # Written to a new 0600 file, then renamed: the key is never readable by others, not even briefly.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(keys.render() + "\n")
    os.replace(tmp, path)
