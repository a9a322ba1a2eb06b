"""Fake mail server (aiosmtpd) plus the mail service's event webhook: after accepting a message it posts
`{"events": [{"event": "delivered"|"bounced"|"clicked", "message_id", "timestamp"}]}` to `callback_url`,
signed `X-Echeck-Signature: sha256=<hex HMAC-SHA256 of "<X-Echeck-Timestamp>." + body with secret>`.

Its behaviour is set through a small control app (`/_fake/...`) served on its own HTTP port.
"""

import email
import email.policy
import functools
import hashlib
import hmac
import json
import socket
import time
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import FastAPI

from fakes.behaviour import Behaviour, Mode, control_router, health_router


class Handler:
    def __init__(self, behaviour: Behaviour) -> None:
        self.b = behaviour

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        mode = self.b.mode_for(address.lower())
        if mode is Mode.REJECT:
            return "550 5.1.1 mailbox unavailable"
        if mode is Mode.ERROR:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message_id = str(msg.get("Message-ID", "")).strip("<>")
        for rcpt in envelope.rcpt_tos:
            mode = self.b.mode_for(rcpt.lower())
            self.b.record(id=message_id, to=rcpt, at=time.time(), mode=mode, subject=str(msg.get("Subject")))
            if self.b.callback_url and mode is not Mode.SILENT:
                if mode is Mode.UNDELIVERED:
                    events = ["bounced"]
                else:
                    events = ["delivered", "clicked"] if self.b.read else ["delivered"]
                self.b.later(self.b.report_delay(mode), functools.partial(_post, self.b, message_id, events))
        return "250 Message accepted for delivery"


async def _post(b: Behaviour, message_id: str, events: list[str]) -> None:
    assert b.callback_url
    doc = {"events": [{"event": e, "message_id": message_id, "timestamp": time.time()} for e in events]}
    body = json.dumps(doc).encode()
    stamp = str(int(time.time()))
    sig = hmac.new((b.secret or "").encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    http = b.http()
    headers = {"Content-Type": "application/json", "X-Echeck-Timestamp": stamp}
    r = await http.post(
        b.callback_url, content=body, headers={**headers, "X-Echeck-Signature": f"sha256={sig}"}
    )
    r.raise_for_status()


def start_smtp(behaviour: Behaviour, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """Start the SMTP server in its own thread; `.port` is the bound port. Stop with `.stop()`."""
    if port == 0:  # aiosmtpd checks readiness by connecting to the port it was given: pick one first
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    # server_hostname given: otherwise aiosmtpd asks DNS for our FQDN on every connection (seconds each).
    controller = Controller(
        Handler(behaviour), hostname=host, port=port, ready_timeout=10, server_hostname="fake-smtp.local"
    )
    controller.start()
    return controller


def create_control_app(behaviour: Behaviour) -> FastAPI:
    app = FastAPI(title="fake mail service: control")
    app.state.behaviour = behaviour
    app.include_router(control_router(behaviour))
    app.include_router(health_router())
    return app
