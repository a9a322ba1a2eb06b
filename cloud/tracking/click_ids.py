"""Click ids (`ec_click`): what every outbound link of an e-receipt page carries (DESIGN, "click ids").

A click id names a receipt and a block, is valid for 30 days and tells nothing by itself: it is the
receipt id, the day it was issued and the block id, encrypted with AES-SIV under a key derived from the
cloud's identity key. AES-SIV is deterministic, so one receipt's block always gets the same id (pages
render the same bytes on every reload) and the id needs no table: any cloud host reads it back.

The redirect link that carries it, `/c/{click_id}?to=URL&s=SIG`, is signed over the target too, so the
cloud never becomes an open redirect for somebody else's URL.
"""

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

VALID_FOR = timedelta(days=30)
REDIRECT_PREFIX = "/c/"
PARAM = "ec_click"
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_HEAD = struct.Struct(">QH")  # receipt id, issue day since _EPOCH
_AAD = [b"ec_click v1"]
_MAX_BLOCK_ID = 64


@dataclass(frozen=True, slots=True)
class ClickRef:
    receipt_id: int
    block_id: str
    issued_on: datetime  # the day (UTC midnight) the id was issued


class ClickIds:
    """Issues and reads click ids; the first key issues, every key reads (identity-key rotation)."""

    def __init__(self, secrets: Iterable[bytes]) -> None:
        derived = [hashlib.sha512(b"echeck click id\x00" + s).digest() for s in secrets]
        if not derived:
            raise ValueError("click ids need at least one key")
        self._ciphers = [AESSIV(d) for d in derived]  # 64 bytes: AES-256-SIV
        self._signing = [hashlib.sha256(b"echeck click link\x00" + d).digest() for d in derived]

    def issue(self, receipt_id: int, block_id: str, now: datetime) -> str:
        block = block_id.encode()
        if not block or len(block) > _MAX_BLOCK_ID:
            raise ValueError(f"block id must be 1..{_MAX_BLOCK_ID} bytes")
        day = (now.astimezone(UTC) - _EPOCH).days
        sealed = self._ciphers[0].encrypt(_HEAD.pack(receipt_id, day) + block, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def read(self, click_id: str, now: datetime) -> ClickRef | None:
        """The receipt and block a click id names, or None when it is not ours or older than 30 days."""
        try:
            sealed = base64.urlsafe_b64decode(click_id + "=" * (-len(click_id) % 4))
        except (binascii.Error, ValueError):
            return None
        for cipher in self._ciphers:
            try:
                plain = cipher.decrypt(sealed, _AAD)
            except (InvalidTag, ValueError):
                continue
            if len(plain) <= _HEAD.size:
                return None
            receipt_id, day = _HEAD.unpack_from(plain)
            issued = _EPOCH + timedelta(days=day)
            if now.astimezone(UTC) - issued > VALID_FOR + timedelta(days=1):
                return None
            return ClickRef(receipt_id, plain[_HEAD.size :].decode(errors="replace"), issued)
        return None

    def outbound_path(self, receipt_id: int, block_id: str, target_url: str, now: datetime) -> str:
        """The page's link for `target_url`: the cloud's redirect that records the click, then goes on."""
        click_id = self.issue(receipt_id, block_id, now)
        query = urlencode({"to": target_url, "s": self._sign(0, click_id, target_url)}, quote_via=quote)
        return f"{REDIRECT_PREFIX}{click_id}?{query}"

    def verify_target(self, click_id: str, target_url: str, signature: str) -> bool:
        """Whether this cloud made the redirect link from this click id to this target."""
        return any(
            hmac.compare_digest(self._sign(i, click_id, target_url), signature)
            for i in range(len(self._signing))
        )

    def _sign(self, index: int, click_id: str, target_url: str) -> str:
        mac = hmac.new(self._signing[index], f"{click_id}\n{target_url}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:12]).decode()


def with_click_id(target_url: str, click_id: str) -> str:
    """The target with `ec_click` added to its query (replacing one already there), fragment kept, so the
    tracker on the retailer's site reads it from the landing URL."""
    parts = urlsplit(target_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != PARAM]
    query.append((PARAM, click_id))
    return urlunsplit(parts._replace(query=urlencode(query)))
