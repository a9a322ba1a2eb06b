"""Promo code strings: generated from a rule's alphabet with the OS's CSPRNG, and normalized on the way in."""

import secrets

from cloud.pages.promo.rules import DEFAULT_ALPHABET

MAX_INPUT = 64


def generate(alphabet: str = DEFAULT_ALPHABET, length: int = 10) -> str:
    """A new code: `length` characters drawn uniformly from `alphabet` by `secrets` (no modulo bias)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def normalize(text: str) -> str:
    """What a cashier or a CRM typed, as stored: upper case, spaces and dashes dropped (a code may be
    printed in groups, "ABCD-EFGH-JK")."""
    return "".join(c for c in text.strip().upper()[:MAX_INPUT] if c not in " -\t")
