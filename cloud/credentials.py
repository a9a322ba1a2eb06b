"""Credentials the cloud hands out. Only their SHA-256 is ever stored, so a database leak writes nothing."""

import hashlib
import re
import secrets

# No 0/O, 1/I/L: store IT reads these codes off a screen or a phone call and types them at the till.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 2
CODE_GROUP_LEN = 4
API_KEY_PREFIX = "ek_"  # lets secret scanners and support staff recognise a tenant key


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_register_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_enrollment_code() -> str:
    """'K7QF-9MZC': 8 characters of a 31-letter alphabet (~40 bits), single use and short-lived."""
    groups = (
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LEN)) for _ in range(CODE_GROUPS)
    )
    return "-".join(groups)


def normalize_code(code: str) -> str:
    """What the hash is taken of: case, spaces and dashes do not matter when typing a code."""
    return re.sub(r"[\s\-]", "", code).upper()


def code_hash(code: str) -> str:
    return sha256_hex(normalize_code(code))
