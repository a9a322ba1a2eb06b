"""Per-destination forms of a buyer's phone and e-mail, and their hashes, behind one interface.

Every destination starts from echeck's stored forms (receipts/contact.py): the phone as country code +
number without '+' (`79161234567`), the e-mail trimmed and lower-cased after NFKC. From there:

| destination | phone form | e-mail form |
|---|---|---|
| Yandex (Metrica, Audiences) | `79161234567` (digits with the country code) | lower-case |
| VK Ads | `79161234567` | lower-case |
| Google Ads enhanced conversions | E.164 with '+': `+79161234567` | lower-case, no dots before @gmail.com |
| Meta Conversions API | digits only, no leading zeros: `79161234567` | trimmed, lower-case |

and the hash is lowercase hex SHA-256 of the UTF-8 form (Yandex stopped taking new MD5 uploads in January
2025), except VK Ads: its user lists (myTarget's, which VK Ads runs on) take values "encrypted" with MD5 or in
the open, so VK gets MD5 hex. `from_raw_phone`/`from_raw_email` turn what a till or form captured into the
stored forms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from receipts.contact import DEFAULT_REGION, normalize_email, normalize_phone

__all__ = [
    "Destination",
    "ExportError",
    "Normaliser",
    "from_raw_email",
    "from_raw_phone",
    "md5_hex",
    "normaliser",
    "sha256_hex",
]


class ExportError(ValueError):
    """Data that cannot go to an ad platform in the form it wants (the message says why)."""


class Destination(StrEnum):
    YANDEX_METRICA = "yandex_metrica"
    YANDEX_AUDIENCES = "yandex_audiences"
    VK_ADS = "vk_ads"
    GOOGLE_ADS = "google_ads"
    META = "meta"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def md5_hex(value: str) -> str:
    # Not for security: the platform's matching form (VK Ads user lists), as the platform documents it.
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()


def from_raw_phone(text: str, region: str = DEFAULT_REGION) -> str:
    """'8 (916) 123-45-67' -> '79161234567' (receipts' normalization, validated with phonenumbers)."""
    return normalize_phone(text, region)


def from_raw_email(text: str) -> str:
    """' John_Smith@Gmail.com ' -> 'john_smith@gmail.com'."""
    return normalize_email(text)


_GMAIL = ("gmail.com", "googlemail.com")


@dataclass(frozen=True, slots=True)
class Normaliser:
    """One destination's forms. Input: echeck's stored (normalized) phone and e-mail."""

    destination: Destination
    phone_plus: bool = False  # E.164 with the leading '+'
    gmail_dots: bool = False  # remove dots in the local part of Gmail addresses
    md5: bool = False  # the platform matches MD5 hex, not SHA-256 (VK Ads user lists)

    def phone(self, stored: str) -> str:
        digits = stored.strip().lstrip("+")
        if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
            raise ExportError("a phone must be the stored form: country code and number, digits only")
        digits = digits.lstrip("0")
        return f"+{digits}" if self.phone_plus else digits

    def email(self, stored: str) -> str:
        value = stored.strip().lower()
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain:
            raise ExportError("not an e-mail address")
        if self.gmail_dots and domain in _GMAIL:
            value = f"{local.replace('.', '')}@{domain}"
        return value

    def hashed(self, form: str) -> str:
        return md5_hex(form) if self.md5 else sha256_hex(form)

    def hashed_phone(self, stored: str) -> str:
        return self.hashed(self.phone(stored))

    def hashed_email(self, stored: str) -> str:
        return self.hashed(self.email(stored))


_NORMALISERS = {
    Destination.YANDEX_METRICA: Normaliser(Destination.YANDEX_METRICA),
    Destination.YANDEX_AUDIENCES: Normaliser(Destination.YANDEX_AUDIENCES),
    Destination.VK_ADS: Normaliser(Destination.VK_ADS, md5=True),
    Destination.GOOGLE_ADS: Normaliser(Destination.GOOGLE_ADS, phone_plus=True, gmail_dots=True),
    Destination.META: Normaliser(Destination.META),
}


def normaliser(destination: Destination) -> Normaliser:
    return _NORMALISERS[destination]
