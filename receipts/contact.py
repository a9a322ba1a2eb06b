"""Buyer contacts (tag 1008): normalization, hashing and masking exactly as REFERENCE.md prescribes.

Phones are stored as country code + national number without '+', e-mails trimmed and lower-cased
after NFKC. Identity joins use the lowercase hex SHA-256 of the normalized string.
"""

import functools
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import email_validator
import phonenumbers

from receipts.phone_validity import is_valid_plus7

DEFAULT_REGION = "RU"
_PHONE_CHARS = re.compile(r"^[\d\s()+\-.]+$")


class InvalidContact(ValueError):
    """A phone or e-mail that cannot be a buyer's contact; the message says why."""


class ContactKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"


# Pure functions of their arguments (and of the library's metadata): a small cache serves the contacts that
# come back (regulars, the same close handled by the hook, the outbox and the cloud), at ~150 kB at most.
_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalize_phone(text: str, region: str = DEFAULT_REGION) -> str:
    """'8 (916) 123-45-67', '+7 916 123 45 67', '9161234567' -> '79161234567'."""
    if region == "RU" and _already_canonical_ru(text):
        return text
    return _normalize_phone(text, region)


def _already_canonical_ru(text: str) -> bool:
    """True only when `_normalize_phone(text, "RU")` returns `text` unchanged: the cheap path for a phone
    normalized before (by the agent at the close, then by every validation of the stored receipt).

    For 11 ASCII digits starting with 7 the full path keeps the text, builds "+" + text and parses it:
    country code 7, national number text[1:] (the national prefix 8 is not stripped: 9 digits are too
    short for +7). That is the number checked here unless the national number has a leading zero, which
    `parse` keeps as an Italian leading zero and E.164 does not print back as `text`: such a number takes
    the full path. So: same number, same validity rule (`is_valid_plus7`), same E.164 text.
    tests/receipts/test_contact.py checks this equivalence against the full path.
    """
    if len(text) != 11 or text[0] != "7" or text[1] == "0" or not (text.isascii() and text.isdigit()):
        return False
    return is_valid_plus7(text[1:])


def _normalize_phone(text: str, region: str) -> str:
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        raise InvalidContact("phone is empty")
    if not _PHONE_CHARS.match(raw):
        raise InvalidContact("phone may hold only digits, spaces, brackets, dashes and a leading +")
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        candidate = "+" + digits
    elif region == "RU" and len(digits) == 11 and digits[0] in "78":
        candidate = "+7" + digits[1:]
    elif region == "RU" and len(digits) == 10 and digits[0] == "9":
        candidate = "+7" + digits
    else:
        candidate = digits
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact(f"not a phone number ({len(digits)} digits)") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact(f"not a valid phone number ({len(digits)} digits)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalize_email(text: str) -> str:
    """' John_Smith@Gmail.com ' -> 'john_smith@gmail.com'. Dots and +tags stay part of the key."""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if not value:
        raise InvalidContact("e-mail is empty")
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidContact(f"not a valid e-mail: {exc}") from exc
    return value


def hash_identifier(normalized: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 normalized value: what a browser can compute (it holds no secret)
    and what advertising platforms want. Reversible by enumerating 10⁹ phones: never an identity key."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def keyed_hash(key: bytes, normalized: str) -> str:
    """The identity key the cloud stores for a phone or e-mail: HMAC-SHA256 over the hex SHA-256 of the
    normalized value, with a secret key. Without the key nobody can test a guessed phone against it
    (REFERENCE.md, "hashing").

    Keyed over the SHA-256 (not the value itself) so that the two ways a contact reaches the cloud give the
    same key: a receipt carries the normalized value, a retailer's site carries only the SHA-256 its browser
    computed (it holds no secret). `keyed_hash(k, v) == identity_hash_of_sha256(k, hash_identifier(v))`.
    """
    return identity_hash_of_sha256(key, hash_identifier(normalized))


def legacy_keyed_hash(key: bytes, normalized: str) -> str:
    """The keyed hash of rows stored before 0.2 (HMAC over the value itself): lookups and erasure still find
    them, `echeck-cloud privacy rekey` moves them to `keyed_hash`."""
    return hmac.new(key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


def identity_hash_of_sha256(key: bytes, sha256_hex: str) -> str:
    """The identity key from the plain SHA-256 a browser sent (lowercase hex, 64 characters)."""
    if len(sha256_hex) != 64 or any(c not in "0123456789abcdef" for c in sha256_hex):
        raise InvalidContact("a SHA-256 must be 64 lowercase hex characters")
    return hmac.new(key, sha256_hex.encode("ascii"), hashlib.sha256).hexdigest()


def mask(kind: ContactKind, normalized: str) -> str:
    """What logs and screens may show: '+7 *** ***-45-67', 'j***@gmail.com'."""
    if kind is ContactKind.PHONE:
        tail = normalized[-4:]
        country = normalized[:-10] or normalized[:1]
        return f"+{country} *** ***-{tail[:2]}-{tail[2:]}"
    local, _, domain = normalized.partition("@")
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True, slots=True)
class BuyerContact:
    """A normalized phone or e-mail: what goes into tag 1008."""

    kind: ContactKind
    value: str

    def __post_init__(self) -> None:
        kind = ContactKind(self.kind)
        object.__setattr__(self, "kind", kind)
        normalized = normalize_phone(self.value) if kind is ContactKind.PHONE else normalize_email(self.value)
        object.__setattr__(self, "value", normalized)

    @property
    def hashed(self) -> str:
        return hash_identifier(self.value)

    def keyed(self, key: bytes) -> str:
        return keyed_hash(key, self.value)

    @property
    def masked(self) -> str:
        return mask(self.kind, self.value)

    @property
    def fiscal_value(self) -> str:
        """The form printed into tag 1008: '+79161234567' or the e-mail."""
        return f"+{self.value}" if self.kind is ContactKind.PHONE else self.value

    def __repr__(self) -> str:  # never leak the raw contact into logs or tracebacks
        return f"BuyerContact({self.kind.value}, {self.masked})"


def parse_contact(text: str) -> BuyerContact:
    """Whatever the cashier typed or the POS sent: an e-mail if it has '@', else a phone."""
    kind = ContactKind.EMAIL if "@" in text else ContactKind.PHONE
    return BuyerContact(kind, text)
