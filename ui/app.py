"""The one wiring place of the cashier's UI process: agent client, prompt feed, popup, tray.

No network call ever runs on the GUI thread: the feed has its own thread, answers and status refreshes go
through a one-thread executor, and results come back as queued Qt signals.
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from agent.local_schemas import AgentStatus, PromptView, RecentReceipt
from ui.agent_client import AgentClient, AgentUnavailable
from ui.feed import PromptFeed
from ui.handback import HandBack
from ui.hotkey import Hotkey
from ui.popup import Popup
from ui.presenter import Answer
from ui.tray import StatusWindow, Tray
from ui.tray_state import tray_view

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UiSettings:
    agent_url: str
    secret_file: Path
    popup_timeout_s: float = 30.0  # the popup answers "timed out" and closes after this
    poll_wait_s: float = 10.0  # long-poll length; also bounds how long stopping takes
    status_every_s: float = 5.0
    tray: bool = True
    hotkey: str | None = None  # X11 key name giving the popup the keyboard (echeck-ui: F12); None: a click


class CashierApp(QObject):
    prompts_changed = Signal(list)
    agent_changed = Signal(bool)
    status_changed = Signal(object)  # AgentStatus | None
    receipts_changed = Signal(list)

    def __init__(self, settings: UiSettings) -> None:
        super().__init__()
        self.settings = settings
        self.client = AgentClient(settings.agent_url, settings.secret_file)
        self.hotkey = Hotkey(settings.hotkey) if settings.hotkey else None
        self.handback = HandBack()
        self.popup = Popup(settings.popup_timeout_s, self.hotkey, self.handback)
        self.status_window = StatusWindow()
        self.tray = Tray() if settings.tray else None
        self.agent_up: bool | None = None
        self._pending: int | None = None
        self._io = ThreadPoolExecutor(1, thread_name_prefix="agent-call")
        self._stopped = False
        self.feed = PromptFeed(
            self.client, self.prompts_changed.emit, self.agent_changed.emit, wait_s=settings.poll_wait_s
        )
        self.prompts_changed.connect(self._on_prompts)
        self.agent_changed.connect(self._on_agent)
        self.status_changed.connect(self._on_status)
        self.receipts_changed.connect(self.status_window.show_receipts)
        self.popup.answered.connect(self._on_answered)
        self.status_window.sync_requested.connect(self.sync_now)
        if self.tray is not None:
            self.tray.open_status.connect(self.show_status_window)
            self.tray.sync_requested.connect(self.sync_now)
        self._status_timer = QTimer(self, interval=int(settings.status_every_s * 1000))
        self._status_timer.timeout.connect(self.refresh_status)

    def start(self) -> None:
        self.feed.start()
        self._status_timer.start()
        self.refresh_status()
        if self.tray is not None:
            self.tray.show()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._status_timer.stop()
        self.feed.stop(timeout=self.settings.poll_wait_s + 1)
        self._io.shutdown(wait=True, cancel_futures=True)
        self.client.close()
        self.popup.withdraw()
        if self.hotkey is not None:
            self.hotkey.close()
        self.handback.close()
        self.status_window.hide()
        if self.tray is not None:
            self.tray.hide()

    # -- prompts ------------------------------------------------------------------------------------
    def _on_prompts(self, prompts: list[PromptView]) -> None:
        if self._stopped:
            return
        shown = self.popup.prompt_id
        if shown is not None and all(p.prompt_id != shown for p in prompts):
            self.popup.withdraw()  # closed or cancelled on the POS, timed out, or answered elsewhere
            shown = None
        if shown is None and prompts:
            self.popup.show_prompt(prompts[0])

    def _on_answered(self, answered: tuple[str, Answer]) -> None:
        prompt_id, answer = answered
        self._submit(self._send_answer, prompt_id, answer)

    def _send_answer(self, prompt_id: str, answer: Answer) -> None:
        try:
            accepted = self.client.answer(prompt_id, answer)
        except AgentUnavailable as exc:
            log.warning("answer not delivered: %s", exc)
            return
        log.info("answered", extra={"prompt": prompt_id, "answer": answer.kind.value, "accepted": accepted})

    # -- tray and status ----------------------------------------------------------------------------
    def _on_agent(self, up: bool) -> None:
        self.agent_up = up
        if not up:
            self.popup.withdraw()
        self.refresh_status()

    def refresh_status(self) -> None:
        self._submit(self._fetch_status)

    def _fetch_status(self) -> None:
        try:
            status: AgentStatus | None = self.client.status()
        except AgentUnavailable:
            status = None
        self.status_changed.emit(status)
        if status is not None and self.status_window.isVisible():
            try:
                receipts: list[RecentReceipt] = self.client.recent().receipts
            except AgentUnavailable:
                return
            self.receipts_changed.emit(receipts)

    def _on_status(self, status: AgentStatus | None) -> None:
        view = tray_view(status, self._pending)
        self._pending = status.outbox.pending if status else None
        self.status_window.show_view(view)
        if self.tray is not None:
            self.tray.show_view(view)

    def show_status_window(self) -> None:
        self.status_window.show()
        self.status_window.raise_()
        self.refresh_status()

    def sync_now(self) -> None:
        def call() -> None:
            try:
                self.client.sync_now()
            except AgentUnavailable as exc:
                log.warning("sync now: %s", exc)
            self._fetch_status()

        self._submit(call)

    def _submit(self, call: Callable[..., None], *args: object) -> None:
        if not self._stopped:  # signals queued before stop() may still arrive: nothing to do then
            self._io.submit(call, *args)
