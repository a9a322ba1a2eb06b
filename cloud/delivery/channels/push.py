"""Push through FCM HTTP v1: `POST /v1/projects/{id}/messages:send` with a bearer token.

FCM itself reports nothing back; the retailer's app backend tells us "delivered" (the app got it) and
"opened" (the buyer tapped it) through `POST /v1/delivery/app/events` with the tenant's key.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import httpx
from pydantic import Field

from cloud.delivery.cascade import AttemptStatus, Channel
from cloud.delivery.channels.base import BadReport, ChannelSettings, Message, ProviderError, ProviderReport

MAX_PAYLOAD = 4096
QUOTA_BACKOFF_S = 60.0  # FCM asks for at least a minute after QUOTA_EXCEEDED
APP_EVENTS = {"delivered": AttemptStatus.DELIVERED, "opened": AttemptStatus.READ}


class PushSettings(ChannelSettings):
    base_url: str = "https://fcm.googleapis.com"
    project_id: str = Field(min_length=1)
    access_token: str = Field(min_length=1, description="OAuth 2 bearer token of the service account")


@dataclass
class PushChannel:
    channel: ClassVar[Channel] = Channel.PUSH
    settings: PushSettings
    price: int  # kopecks per message
    http: httpx.Client  # shared, keep-alive; its transport is what tests point at the fakes

    def send(self, message: Message) -> str:
        s = self.settings
        doc = {
            "message": {
                "token": message.to,
                "notification": {"title": message.subject, "body": message.text[:200]},
                "data": {"url": message.link, "reference": message.reference},
            }
        }
        if len(json.dumps(doc).encode()) > MAX_PAYLOAD:
            raise ProviderError("push payload over 4096 bytes", transient=False)
        try:
            r = self.http.post(
                f"{s.base_url.rstrip('/')}/v1/projects/{s.project_id}/messages:send",
                json=doc,
                headers={"Authorization": f"Bearer {s.access_token}"},
                timeout=s.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"FCM unreachable: {type(exc).__name__}", transient=True) from exc
        if r.status_code == 200:
            try:
                return str(r.json()["name"])
            except (ValueError, KeyError) as exc:
                raise ProviderError("FCM answered 200 without a message name", transient=True) from exc
        code = _error_code(r)
        if code == "UNREGISTERED" or r.status_code == 404:
            raise ProviderError("FCM: device token unregistered", transient=False, unregistered=True)
        if code == "QUOTA_EXCEEDED" or r.status_code == 429:
            retry = max(QUOTA_BACKOFF_S, float(r.headers.get("retry-after", 0) or 0))
            raise ProviderError("FCM: quota exceeded", transient=True, retry_after_s=retry)
        raise ProviderError(f"FCM answered {r.status_code} {code}", transient=r.status_code >= 500)

    def parse_report(
        self, body: bytes, headers: Mapping[str, str], params: Mapping[str, str], now: datetime
    ) -> list[ProviderReport]:
        try:
            doc = json.loads(body)
            events = doc if isinstance(doc, list) else [doc]
            return [
                ProviderReport(str(e["message_id"]), APP_EVENTS[e["event"]], None, e["event"]) for e in events
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadReport(
                "expected {'message_id': ..., 'event': 'delivered'|'opened'} or a list of them"
            ) from exc


def _error_code(r: httpx.Response) -> str:
    try:
        err = r.json()["error"]
        for d in err.get("details", []):
            if "errorCode" in d:
                return str(d["errorCode"])
        return str(err.get("status", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
