"""Fake Viber gateway: `POST /pa/send_message` and `/pa/set_webhook`; callbacks delivered/seen/failed signed
with `X-Viber-Content-Signature` (HMAC-SHA256 of the body with the sender's auth token)."""

import hashlib
import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from fakes.behaviour import Behaviour, Mode, control_router, health_router


def create_app(behaviour: Behaviour | None = None) -> FastAPI:
    b = behaviour or Behaviour()
    app = FastAPI(title="fake Viber gateway")
    app.state.behaviour = b
    app.include_router(control_router(b))
    app.include_router(health_router())

    @app.post("/pa/set_webhook")
    async def set_webhook(request: Request, x_viber_auth_token: str = Header("")) -> Any:
        doc = await request.json()
        b.callback_url = doc.get("url")
        return {"status": 0, "status_message": "ok", "event_types": ["delivered", "seen", "failed"]}

    @app.post("/pa/send_message")
    async def send(request: Request, x_viber_auth_token: str = Header("")) -> Any:
        if not x_viber_auth_token:
            return {"status": 2, "status_message": "invalidAuthToken"}
        try:
            doc = await request.json()
            receiver, text = doc["receiver"], doc["text"]
        except (ValueError, KeyError, TypeError):
            return {"status": 3, "status_message": "badData"}
        mode = b.mode_for(receiver)
        if mode is Mode.ERROR:
            return JSONResponse({"status_message": "unavailable"}, status_code=503)
        if mode is Mode.REJECT:
            return {"status": 6, "status_message": "notSubscribed"}
        token = 5_000_000_000 + b.next_id()
        b.record(id=str(token), to=receiver, at=time.time(), mode=mode, text=text)
        if b.callback_url and mode is not Mode.SILENT:
            events = (
                ["failed"]
                if mode is Mode.UNDELIVERED
                else (["delivered", "seen"] if b.read else ["delivered"])
            )
            b.later(b.report_delay(mode), lambda: _post(b, x_viber_auth_token, token, receiver, events))
        return {"status": 0, "status_message": "ok", "message_token": token}

    return app


async def _post(b: Behaviour, auth_token: str, token: int, receiver: str, events: list[str]) -> None:
    assert b.callback_url
    http = b.http()
    for event in events:
        doc = {
            "event": event,
            "timestamp": int(time.time() * 1000),
            "message_token": token,
            "user_id": receiver,
        }
        if event == "failed":
            doc["desc"] = "not a Viber user"
        body = json.dumps(doc).encode()
        sig = hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()
        r = await http.post(
            b.callback_url,
            content=body,
            headers={"Content-Type": "application/json", "X-Viber-Content-Signature": sig},
        )
        r.raise_for_status()
