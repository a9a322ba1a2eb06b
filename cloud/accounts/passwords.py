"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cloud.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; a bound keeps one login from costing megabytes

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong e-mail costs the same time as a wrong password.
_DUMMY = _hasher.hash("echeck-no-such-user")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"пароль слишком короткий: нужно не меньше {MIN_LENGTH} символов")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"пароль слишком длинный: не больше {MAX_LENGTH} символов")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
