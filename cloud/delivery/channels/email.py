"""E-mail over SMTP (standard library): HTML + plain text with the e-receipt link.

Plain SMTP says only "accepted"; bounces, opens and clicks come back through the mail service's event
webhook as JSON `{"events": [{"event": "delivered"|"bounced"|"opened"|"clicked", "message_id", "timestamp",
"event_id" (optional)}]}` with `X-Echeck-Timestamp: <unix seconds>` and `X-Echeck-Signature: sha256=<hex
HMAC-SHA256 of "<timestamp>." + body with webhook_secret>`. The signed timestamp must be within
`REPLAY_WINDOW` of our clock and each event is applied once (`cloud.delivery.replay`): no replays.
A pixel "opened" is counted as delivered only: Apple Mail pre-fetches pixels without a human
(REFERENCE.md); a click is "read".
"""

import json
import secrets
import smtplib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import ClassVar

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
)

EVENTS = {
    "delivered": AttemptStatus.DELIVERED,
    "opened": AttemptStatus.DELIVERED,
    "clicked": AttemptStatus.READ,
    "bounced": AttemptStatus.FAILED,
    "dropped": AttemptStatus.FAILED,
}


class EmailSettings(ChannelSettings):
    host: str
    port: int = Field(25, gt=0, lt=65536)
    sender: str = Field(description="From: address, e.g. 'Shop <receipts@shop.ru>'")
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    helo_name: str = Field("echeck.local", description="the name we greet the SMTP server with")
    webhook_secret: str = Field(min_length=8, description="signs the bounce/open webhook")


class EmailChannel:
    channel: ClassVar[Channel] = Channel.EMAIL

    def __init__(self, settings: EmailSettings, price: int) -> None:
        self.settings = settings
        self.price = price

    def send(self, message: Message) -> str:
        s = self.settings
        mail = EmailMessage()
        mail["From"] = s.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        msgid = make_msgid(idstring=f"{message.reference}.{secrets.token_hex(4)}", domain="echeck")
        mail["Message-ID"] = msgid
        mail["X-Echeck-Reference"] = message.reference
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        try:
            # An explicit HELO name: smtplib's default asks DNS for our FQDN, which can take seconds.
            with smtplib.SMTP(s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout_s) as smtp:
                if s.starttls:
                    smtp.starttls()
                if s.username and s.password:
                    smtp.login(s.username, s.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            raise ProviderError(f"SMTP refused the recipient ({code})", transient=code < 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise ProviderError(f"SMTP answered {exc.smtp_code}", transient=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts and refusals
            raise ProviderError(f"SMTP server unreachable: {type(exc).__name__}", transient=True) from exc
        return msgid.strip("<>")

    def parse_report(
        self, body: bytes, headers: Mapping[str, str], params: Mapping[str, str], now: datetime
    ) -> list[ProviderReport]:
        stamp = headers.get("x-echeck-timestamp", "").strip()
        if not stamp.isdigit() or len(stamp) > 12:
            raise BadReport("missing X-Echeck-Timestamp header (unix seconds, signed with the body)", 401)
        check_hmac(
            self.settings.webhook_secret, stamp.encode() + b"." + body, headers.get("x-echeck-signature")
        )
        check_fresh(datetime.fromtimestamp(int(stamp), UTC), now)
        try:
            doc = json.loads(body)
            events = doc["events"]
            out = []
            for e in events:
                if e.get("event") not in EVENTS:
                    continue
                at = datetime.fromtimestamp(float(e["timestamp"]), UTC) if e.get("timestamp") else None
                message_id = str(e["message_id"]).strip("<>")
                key = str(e.get("event_id") or f"{message_id}:{e['event']}:{e.get('timestamp')}")
                out.append(ProviderReport(message_id, EVENTS[e["event"]], at, e["event"], event_key=key))
            return out
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
            raise BadReport(f"not an e-mail event document: {type(exc).__name__}") from exc
