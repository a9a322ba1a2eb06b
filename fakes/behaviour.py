"""What a fake provider does with each message, set over HTTP (`/_fake/...`), and the reports it sends."""

import asyncio
import itertools
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

log = logging.getLogger("fakes")
REPORT_TRIES = 4


class Mode(StrEnum):
    ACCEPT = "accept"  # take it and report delivered (and read, when `read` is on) after `delay_s`
    DELAY = "delay"  # take it and report delivered only after `slow_delay_s`
    SILENT = "silent"  # take it and never report
    UNDELIVERED = "undelivered"  # take it and report a delivery failure
    REJECT = "reject"  # refuse it at send time (unknown recipient, not a Viber user, bad number)
    ERROR = "error"  # answer 503 / SMTP 451: the provider is having a bad day


class BehaviourUpdate(BaseModel):
    default: Mode | None = None
    recipients: dict[str, Mode] | None = None  # replaces the per-recipient table
    delay_s: float | None = None
    slow_delay_s: float | None = None
    read: bool | None = None
    callback_url: str | None = None
    secret: str | None = None


@dataclass
class Behaviour:
    default: Mode = Mode.ACCEPT
    recipients: dict[str, Mode] = field(default_factory=dict)
    delay_s: float = 0.05
    slow_delay_s: float = 5.0
    read: bool = False
    callback_url: str | None = None
    secret: str | None = None  # the app key (push) or signing secret (e-mail); Viber signs with its token
    messages: list[dict[str, Any]] = field(default_factory=list)
    reports_sent: int = 0
    report_errors: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def http(self) -> httpx.AsyncClient:
        """The client the reports go out with, one per event loop and kept: a client per report built a
        TLS context (the CA bundle loaded) each time, which was most of the fakes' CPU under load."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = self._clients[loop] = httpx.AsyncClient(timeout=5)
        return client

    def mode_for(self, to: str) -> Mode:
        return Mode(self.recipients.get(to, self.default))

    def next_id(self) -> int:
        with self._lock:
            value: int = next(self._ids)
            return value

    def record(self, **message: Any) -> None:
        with self._lock:
            self.messages.append(message)

    def update(self, u: BehaviourUpdate) -> None:
        for name, value in u.model_dump(exclude_none=True).items():
            setattr(self, name, value)

    def later(self, delay_s: float, post: Callable[[], Awaitable[None]]) -> None:
        """Run `post` after `delay_s` on the running loop, counting successes and failures."""

        async def run() -> None:
            await asyncio.sleep(delay_s)
            for attempt in range(REPORT_TRIES):  # providers retry their webhooks, so do we
                try:
                    await post()
                    self.reports_sent += 1
                    return
                except Exception as exc:  # the cloud may be down or busy: count it, try again
                    self.report_errors += 1
                    log.warning("report not delivered (try %d): %s", attempt + 1, type(exc).__name__)
                    await asyncio.sleep(0.5 * 2**attempt)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_delay(self, mode: Mode) -> float:
        return self.slow_delay_s if mode is Mode.DELAY else self.delay_s


def control_router(behaviour: Behaviour) -> APIRouter:
    router = APIRouter(prefix="/_fake", tags=["fake control"])

    @router.post("/behaviour", summary="Change how this fake treats messages")
    def set_behaviour(update: BehaviourUpdate) -> dict[str, Any]:
        behaviour.update(update)
        return {"default": behaviour.default, "recipients": len(behaviour.recipients)}

    @router.get("/messages", summary="What this fake received")
    def messages(request: Request, limit: int = 1000) -> dict[str, Any]:
        return {
            "count": len(behaviour.messages),
            "reports_sent": behaviour.reports_sent,
            "report_errors": behaviour.report_errors,
            "messages": behaviour.messages[-limit:],
        }

    @router.post("/reset", summary="Forget messages and go back to accepting everything")
    def reset() -> dict[str, str]:
        behaviour.messages.clear()
        behaviour.recipients.clear()
        behaviour.default = Mode.ACCEPT
        return {"status": "ok"}

    return router


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return router
