"""Fake FCM HTTP v1: `POST /v1/projects/{id}/messages:send`. Plays the retailer's app too: after a message
it tells the app-events URL (`callback_url`, bearer `secret`) "delivered", then "opened" when `read`."""

import time
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from fakes.behaviour import Behaviour, Mode, control_router, health_router


def _error(code: int, status: str, error_code: str) -> JSONResponse:
    doc = {
        "error": {
            "code": code,
            "message": error_code,
            "status": status,
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
            ],
        }
    }
    return JSONResponse(doc, status_code=code)


def create_app(behaviour: Behaviour | None = None) -> FastAPI:
    b = behaviour or Behaviour()
    app = FastAPI(title="fake FCM HTTP v1")
    app.state.behaviour = b
    app.include_router(control_router(b))
    app.include_router(health_router())

    @app.post("/v1/projects/{project}/messages:send")
    async def send(project: str, request: Request, authorization: str = Header("")) -> Any:
        if not authorization.startswith("Bearer ") or len(authorization) < 10:
            return _error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
        try:
            message = (await request.json())["message"]
            token = message["token"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
        mode = b.mode_for(token)
        if mode is Mode.REJECT:
            return _error(404, "NOT_FOUND", "UNREGISTERED")
        if mode is Mode.ERROR:
            return _error(503, "UNAVAILABLE", "UNAVAILABLE")
        name = f"projects/{project}/messages/{b.next_id()}"
        b.record(id=name, to=token, at=time.time(), mode=mode, data=message.get("data", {}))
        if mode in (Mode.ACCEPT, Mode.DELAY) and b.callback_url:
            events = ["delivered", "opened"] if b.read else ["delivered"]
            b.later(b.report_delay(mode), lambda: _post(b, name, events))
        return {"name": name}

    return app


async def _post(b: Behaviour, name: str, events: list[str]) -> None:
    assert b.callback_url
    http = b.http()
    for event in events:
        r = await http.post(
            b.callback_url,
            json={"message_id": name, "event": event},
            headers={"Authorization": f"Bearer {b.secret or ''}"},
        )
        r.raise_for_status()
