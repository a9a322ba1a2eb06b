"""Viber business messages through a gateway with the Viber API's shape.

Send: `POST /pa/send_message`, header `X-Viber-Auth-Token`, `{"receiver", "type": "text", "text"}` →
`{"status": 0, "status_message": "ok", "message_token"}`. Callbacks: `{"event": "delivered"|"seen"|"failed",
"timestamp" (ms), "message_token", "user_id"}`, signed `X-Viber-Content-Signature` (hex HMAC-SHA256 of
the body with the auth token). The signed timestamp must be within `REPLAY_WINDOW` of our clock, and each
(message, event, timestamp) is applied once (`cloud.delivery.replay`): a captured callback cannot be replayed.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import httpx
from pydantic import Field

from cloud.delivery.cascade import AttemptStatus, Channel
from cloud.delivery.channels.base import (
    BadReport,
    ChannelSettings,
    Message,
    ProviderError,
    ProviderReport,
    check_fresh,
    check_hmac,
    status_error,
)

EVENTS = {"delivered": AttemptStatus.DELIVERED, "seen": AttemptStatus.READ, "failed": AttemptStatus.FAILED}
TRANSIENT_STATUSES = {12}  # "too many requests"


class ViberSettings(ChannelSettings):
    base_url: str = "https://chatapi.viber.com"
    auth_token: str = Field(min_length=8)
    sender_name: str = Field("echeck", max_length=28)


@dataclass
class ViberChannel:
    channel: ClassVar[Channel] = Channel.VIBER
    settings: ViberSettings
    price: int  # kopecks per message
    http: httpx.Client  # shared, keep-alive; its transport is what tests point at the fakes

    def send(self, message: Message) -> str:
        s = self.settings
        doc = {
            "receiver": message.to,
            "type": "text",
            "text": message.text,
            "sender": {"name": s.sender_name},
            "tracking_data": message.reference,
        }
        try:
            r = self.http.post(
                f"{s.base_url.rstrip('/')}/pa/send_message",
                json=doc,
                headers={"X-Viber-Auth-Token": s.auth_token},
                timeout=s.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"Viber gateway unreachable: {type(exc).__name__}", transient=True) from exc
        if r.status_code != 200:
            raise status_error("Viber gateway", r.status_code, r.text)
        try:
            body = r.json()
            status = int(body["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("Viber gateway answered without a status", transient=True) from exc
        if status != 0:
            raise ProviderError(
                f"Viber status {status}: {str(body.get('status_message', ''))[:100]}",
                transient=status in TRANSIENT_STATUSES,
            )
        return str(body["message_token"])

    def parse_report(
        self, body: bytes, headers: Mapping[str, str], params: Mapping[str, str], now: datetime
    ) -> list[ProviderReport]:
        check_hmac(self.settings.auth_token, body, headers.get("x-viber-content-signature"))
        try:
            doc = json.loads(body)
            event = doc["event"]
            at = datetime.fromtimestamp(int(doc["timestamp"]) / 1000, UTC)
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
            raise BadReport(f"not a Viber callback: {type(exc).__name__}") from exc
        check_fresh(at, now)
        if event not in EVENTS:  # subscribed, webhook, conversation_started ...: not about delivery
            return []
        try:
            token = str(doc["message_token"])
        except (KeyError, TypeError) as exc:
            raise BadReport(f"not a Viber callback: {type(exc).__name__}") from exc
        detail = str(doc.get("desc", event))[:100]
        key = f"{token}:{event}:{doc['timestamp']}"
        return [ProviderReport(token, EVENTS[event], at, detail, event_key=key)]
