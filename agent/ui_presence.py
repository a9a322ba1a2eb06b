"""Whether a cashier UI is listening: a UI long-polls the prompts endpoint, one poll after another.

ASGI middleware around the agent's app watches those polls (the prompt channel itself belongs to the
cashier API): a poll in flight, or one answered within the last few seconds, means a UI is there.
"""

import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

GRACE_S = 5.0  # between two polls a UI is away for milliseconds; a dead one stops polling for good


class UiPresence:
    def __init__(
        self, path: str, grace_s: float = GRACE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._grace_s = grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._polling = 0
        self._last_seen: float | None = None

    def connected(self) -> bool:
        with self._lock:
            if self._polling:
                return True
            return self._last_seen is not None and self._clock() - self._last_seen < self._grace_s

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def watch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope.get("path") != self.path:
                await app(scope, receive, send)
                return
            answered = False

            async def note(message: Message) -> None:
                nonlocal answered
                if message["type"] == "http.response.start":
                    answered = message["status"] == 200  # a 401 (no secret) is not a UI
                await send(message)

            with self._lock:
                self._polling += 1
            try:
                await app(scope, receive, note)
            finally:
                with self._lock:
                    self._polling -= 1
                    if answered:
                        self._last_seen = self._clock()

        return watch
