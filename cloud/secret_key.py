"""The cloud's secret key: provider credentials are encrypted with it at rest (Fernet: AES-128-CBC with an
HMAC-SHA256, from `cryptography`), so a copy of the database alone sends no SMS and reads no mailbox.

Where the key comes from, first found:
1. `ECHECK_SECRET_KEY`: one or more Fernet keys, comma-separated. The first encrypts; every one decrypts
   (MultiFernet), which is how a key is rotated (docs/delivery.md, "Credentials at rest").
2. `secret.key` in the cloud's data directory (next to the SQLite database; for PostgreSQL the platform's
   user data directory), made on the first start with mode 0600. Several hosts on one PostgreSQL database
   must share one key: set `ECHECK_SECRET_KEY` there.

Encrypted values are stored as `fernet:<token>`; a value without the prefix is a credential stored before
encryption (migration 0007 encrypts those) and is read as it is.
"""

import os
import threading
from pathlib import Path

import platformdirs
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_KEY_ENV = "ECHECK_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
PREFIX = "fernet:"

_boxes: dict[tuple[str, str], MultiFernet] = {}
_lock = threading.Lock()


class SecretKeyError(RuntimeError):
    """No usable key, or a stored credential that none of the keys decrypts."""


def data_dir(database_url: str | sa.URL) -> Path:
    """The cloud's data directory: the SQLite file's, else the platform's user data directory."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path(platformdirs.user_data_dir("echeck"))


def _key_file(directory: Path) -> bytes:
    path = directory / KEY_FILE_NAME
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    # Written aside and linked into place: two processes starting at once never read a half-written key,
    # and the one that loses the race reads the winner's.
    tmp = directory / f".{KEY_FILE_NAME}.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def box_for(database_url: str | sa.URL) -> MultiFernet:
    """The keys for this database (cached per process: the key file is read once)."""
    env = os.environ.get(SECRET_KEY_ENV, "").strip()
    cache_key = (env, str(data_dir(database_url)) if not env else "")
    with _lock:
        box = _boxes.get(cache_key)
        if box is None:
            raw = [k.strip().encode() for k in env.split(",") if k.strip()] or [
                _key_file(data_dir(database_url))
            ]
            try:
                box = MultiFernet([Fernet(k) for k in raw])
            except ValueError as exc:
                raise SecretKeyError(
                    f"{SECRET_KEY_ENV} must be Fernet keys (32 url-safe base64 bytes), comma-separated"
                ) from exc
            _boxes[cache_key] = box
    return box


def new_key() -> str:
    return Fernet.generate_key().decode()


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(box: MultiFernet, plain: str) -> str:
    return PREFIX + box.encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(box: MultiFernet, value: str) -> str:
    if not is_encrypted(value):
        return value
    try:
        return box.decrypt(value.removeprefix(PREFIX).encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretKeyError(
            f"a stored credential does not decrypt with the keys in {SECRET_KEY_ENV} or the key file: "
            "was the key changed without keeping the old one?"
        ) from exc


def rotate(box: MultiFernet, value: str) -> str:
    """Re-encrypt with the first key (plain values get encrypted)."""
    if not is_encrypted(value):
        return encrypt(box, value)
    return PREFIX + box.rotate(value.removeprefix(PREFIX).encode("ascii")).decode("ascii")
