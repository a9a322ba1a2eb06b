"""SMS through SMS.ru's HTTP API.

Send: `/sms/send?api_id&to&msg&json=1` → `{"status": "OK", "sms": {"7916...": {"status": "OK", "status_code":
100, "sms_id"}}, "balance"}`. Status callbacks: POST form fields `data[]`, each
`sms_status\\n<sms_id>\\n<code>\\n<unix time>`; the answer must be `100`. SMS.ru does not sign callbacks
and only calls the URL set in the account, so that URL carries an unguessable per-tenant token in its path:
`/v1/delivery/callbacks/{tenant}/sms/{callback_secret}`. Never in the query string (it used to be, and was
logged); the cloud's logs mask that path segment (`cloud.logs`). Each (sms id, code, time) is applied once.
"""

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import parse_qs

import httpx
from pydantic import Field

from cloud.delivery.cascade import AttemptStatus, Channel
from cloud.delivery.channels.base import (
    BadReport,
    ChannelSettings,
    Message,
    ProviderError,
    ProviderReport,
    status_error,
)

# 100 queued, 101 to the operator, 102 sent, 103 delivered, 104 expired, 105 deleted, 106 phone failure,
# 107 unknown reason, 108 rejected.
CODES = {
    100: AttemptStatus.ACCEPTED,
    101: AttemptStatus.ACCEPTED,
    102: AttemptStatus.ACCEPTED,
    103: AttemptStatus.DELIVERED,
    104: AttemptStatus.FAILED,
    105: AttemptStatus.FAILED,
    106: AttemptStatus.FAILED,
    107: AttemptStatus.FAILED,
    108: AttemptStatus.FAILED,
}
TRANSIENT_CODES = {220, 230, 231, 232}  # service busy, daily/minute limits


class SmsSettings(ChannelSettings):
    base_url: str = "https://sms.ru"
    api_id: str = Field(min_length=8)
    sender: str | None = Field(None, max_length=11, description="approved sender name ('from')")
    callback_secret: str = Field(min_length=8)


@dataclass
class SmsChannel:
    channel: ClassVar[Channel] = Channel.SMS
    settings: SmsSettings
    price: int  # kopecks per message
    http: httpx.Client  # shared, keep-alive; its transport is what tests point at the fakes

    def send(self, message: Message) -> str:
        s = self.settings
        params = {"api_id": s.api_id, "to": message.to, "msg": message.text, "json": "1"}
        if s.sender:
            params["from"] = s.sender
        try:
            r = self.http.post(f"{s.base_url.rstrip('/')}/sms/send", data=params, timeout=s.timeout_s)
        except httpx.HTTPError as exc:
            raise ProviderError(f"SMS.ru unreachable: {type(exc).__name__}", transient=True) from exc
        if r.status_code != 200:
            raise status_error("SMS.ru", r.status_code, r.text)
        try:
            body = r.json()
            if body.get("status") != "OK":
                code = int(body.get("status_code", 0))
                raise ProviderError(f"SMS.ru refused the request ({code})", transient=code in TRANSIENT_CODES)
            sms = next(iter(body["sms"].values()))
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise ProviderError("SMS.ru answered an unexpected document", transient=True) from exc
        if sms.get("status") != "OK":
            code = int(sms.get("status_code", 0))
            raise ProviderError(f"SMS.ru refused the message ({code})", transient=code in TRANSIENT_CODES)
        return str(sms["sms_id"])

    def parse_report(
        self, body: bytes, headers: Mapping[str, str], params: Mapping[str, str], now: datetime
    ) -> list[ProviderReport]:
        given = params.get("token", "").encode()
        if not hmac.compare_digest(given, self.settings.callback_secret.encode()):
            raise BadReport("callback secret does not match", 401)
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadReport("expected a form with data[] fields") from exc
        lines = form.get("data[]", [])
        if not lines:
            raise BadReport("expected a form with data[] fields")
        out = []
        for item in lines:
            parts = item.split("\n")
            if parts[0] != "sms_status":
                continue  # SMS.ru also posts callbacks about calls and replies
            try:
                _, sms_id, code, ts = parts[:4]
                at = datetime.fromtimestamp(int(ts), UTC)
                key = f"{sms_id}:{code}:{ts}"
                out.append(ProviderReport(sms_id, CODES[int(code)], at, f"code {code}", event_key=key))
            except (ValueError, KeyError, OverflowError, OSError) as exc:
                raise BadReport(f"bad sms_status line: {type(exc).__name__}") from exc
        return out
