"""A background thread that long-polls the agent for open prompts and reports changes. No Qt here.

The Qt side passes callbacks that emit signals (queued into the GUI thread). When the agent is down the
feed says so once, retries with a growing pause (at most `max_pause_s`) and says so again when it is back.
"""

import logging
import threading
from collections.abc import Callable

from agent.local_schemas import PromptView
from ui.agent_client import AgentClient, AgentUnavailable

log = logging.getLogger(__name__)


class PromptFeed:
    def __init__(
        self,
        client: AgentClient,
        on_prompts: Callable[[list[PromptView]], None],
        on_agent: Callable[[bool], None],
        wait_s: float = 10.0,
        max_pause_s: float = 3.0,
    ) -> None:
        self._client = client
        self._on_prompts = on_prompts
        self._on_agent = on_agent
        self._wait_s = wait_s
        self._max_pause_s = max_pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prompt-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        since, up, pause = -1, None, 0.2
        while not self._stop.is_set():
            try:
                page = self._client.prompts(since, self._wait_s)
            except AgentUnavailable as exc:
                if up is not False:
                    log.warning("agent unavailable: %s", exc)
                    self._on_agent(False)
                up, since = False, -1  # a restarted agent counts versions from zero again
                self._stop.wait(pause)
                pause = min(pause * 2, self._max_pause_s)
                continue
            if up is not True:
                self._on_agent(True)
            up, pause = True, 0.2
            if page.version != since:
                since = page.version
                self._on_prompts(page.prompts)
