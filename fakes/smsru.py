"""Fake SMS.ru: `/sms/send?api_id&to&msg&json=1` (GET or POST form); status callbacks as SMS.ru sends them,
a POST form of `data[]` lines `sms_status\\n<id>\\n<code>\\n<unix time>`, to the account's callback URL."""

import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.behaviour import Behaviour, Mode, control_router, health_router


def create_app(behaviour: Behaviour | None = None) -> FastAPI:
    b = behaviour or Behaviour()
    app = FastAPI(title="fake SMS.ru")
    app.state.behaviour = b
    app.include_router(control_router(b))
    app.include_router(health_router())

    @app.api_route("/sms/send", methods=["GET", "POST"])
    async def send(request: Request) -> Any:
        params = dict(request.query_params)
        if request.method == "POST":
            # SMS.ru takes form posts; parsed here without python-multipart (url-encoded forms only).
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            params.update({k: v[-1] for k, v in form.items()})
        if len(params.get("api_id", "")) < 8:
            return {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}
        to, msg = params.get("to", ""), params.get("msg", "")
        if not to or not msg:
            return {"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан получатель"}
        mode = b.mode_for(to)
        if mode is Mode.ERROR:
            return JSONResponse({"status": "ERROR", "status_code": 220}, status_code=503)
        if mode is Mode.REJECT:
            sms: dict[str, Any] = {"status": "ERROR", "status_code": 207, "status_text": "Нельзя отправлять"}
        else:
            sms_id = f"{b.next_id():06d}-{int(time.time())}"
            sms = {"status": "OK", "status_code": 100, "sms_id": sms_id}
            b.record(id=sms_id, to=to, at=time.time(), mode=mode, text=msg)
            if b.callback_url and mode is not Mode.SILENT:
                code = 106 if mode is Mode.UNDELIVERED else 103
                b.later(b.report_delay(mode), lambda: _post(b, sms_id, code))
        return {"status": "OK", "status_code": 100, "sms": {to: sms}, "balance": 4122.56}

    return app


async def _post(b: Behaviour, sms_id: str, code: int) -> None:
    assert b.callback_url
    http = b.http()
    r = await http.post(
        b.callback_url, data={"data[]": [f"sms_status\n{sms_id}\n{code}\n{int(time.time())}"]}
    )
    r.raise_for_status()
