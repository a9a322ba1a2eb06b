"""The one small interface every channel speaks: send a message, parse a delivery report, know its price.

Adapters do their I/O through what they are given (an `httpx.Client`, whose transport tests and the
benchmarks may swap; an SMTP host and port), never through globals.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from cloud.delivery.cascade import AttemptStatus, Channel
from cloud.errors import BadReport as BadReport  # the adapters' errors, from the one error tree
from cloud.errors import ProviderError as ProviderError


@dataclass(frozen=True, slots=True)
class Message:
    """One e-receipt notice. `to` is an e-mail, a phone (79161234567) or a push device token."""

    to: str
    subject: str
    text: str
    html: str
    link: str
    reference: str  # ours, e.g. "d42s1": lets a provider's report or log line be traced back


# A signed callback older (or newer) than this is refused: a captured callback cannot be replayed later.
REPLAY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ProviderReport:
    message_id: str
    status: AttemptStatus  # ACCEPTED (still on its way), DELIVERED, READ or FAILED
    at: datetime | None = None
    detail: str = ""
    event_key: str = ""  # one provider event, remembered so that a replay of it applies nothing


class ChannelSettings(BaseModel):
    """Common to every channel. Credentials live in the subclasses and are never logged."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=60, description="per request to the provider")
    rate_per_s: float = Field(50.0, gt=0, description="messages per second this tenant may send here")


class ChannelAdapter(Protocol):
    price: int  # kopecks per billed message, from the tenant's price table

    @property
    def channel(self) -> Channel: ...  # read-only: each adapter class says which it is

    def send(self, message: Message) -> str:
        """Hand the message to the provider; returns its message id or raises ProviderError."""
        ...

    def parse_report(
        self, body: bytes, headers: Mapping[str, str], params: Mapping[str, str], now: datetime
    ) -> list[ProviderReport]:
        """Verify and parse one callback request; raises BadReport. `params` are the callback path's
        parameters (SMS.ru's secret path token); query strings are never read (they end up in logs)."""
        ...


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_hmac(secret: str, body: bytes, given: str | None) -> None:
    if not given:
        raise BadReport("missing signature header", 401)
    given = given.removeprefix("sha256=")
    if not hmac.compare_digest(hmac_hex(secret, body), given.strip().lower()):
        raise BadReport("signature does not match", 401)


def check_fresh(at: datetime, now: datetime) -> None:
    """A signed time outside the replay window: an old callback sent again, or a clock far off."""
    if abs(now - at) > REPLAY_WINDOW:
        minutes = int(REPLAY_WINDOW.total_seconds() // 60)
        raise BadReport(f"the callback's signed time is more than {minutes} minutes from ours: refused", 401)


def status_error(kind: str, status_code: int, text: str) -> ProviderError:
    """An HTTP answer that is not success: 429 and 5xx are worth retrying, other 4xx are not."""
    transient = status_code == 429 or status_code >= 500
    return ProviderError(f"{kind} answered HTTP {status_code}: {text[:200]}", transient=transient)
