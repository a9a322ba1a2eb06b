"""The UI's side of the agent's local API: typed calls over HTTP, every one with a timeout."""

import logging
from pathlib import Path

import httpx
import platformdirs

from agent.local_schemas import (
    PREFIX,
    SECRET_FILE,
    SECRET_HEADER,
    AgentStatus,
    AnswerBody,
    AnswerResult,
    PromptsPage,
    RecentReceipts,
    SyncNow,
)
from ui.presenter import Answer

log = logging.getLogger(__name__)
DEFAULT_AGENT = "http://127.0.0.1:8765"


class AgentUnavailable(RuntimeError):
    """The agent does not answer, refuses our secret, or answers nonsense; the message says which."""


def default_secret_file() -> Path:
    """Where an agent running as this user with default settings writes its local secret."""
    return Path(platformdirs.user_data_dir("echeck")) / SECRET_FILE


class AgentClient:
    """Thread-safe (httpx's pool); the long-poll thread and the answer thread share one client."""

    def __init__(self, base_url: str, secret_file: Path, timeout_s: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret_file = secret_file
        self._timeout = timeout_s
        self._http = httpx.Client(base_url=self.base_url + PREFIX, timeout=timeout_s)
        self._secret: str | None = None

    def close(self) -> None:
        self._http.close()

    def status(self) -> AgentStatus:
        return AgentStatus.model_validate(self._call("GET", "/status"))

    def prompts(self, since: int, wait_s: float) -> PromptsPage:
        data = self._call(
            "GET", "/prompts", params={"since": since, "wait": wait_s}, timeout=wait_s + self._timeout
        )
        return PromptsPage.model_validate(data)

    def answer(self, prompt_id: str, answer: Answer) -> bool:
        body = AnswerBody(kind=answer.kind, contact=answer.contact)
        data = self._call("POST", f"/prompts/{prompt_id}/answer", json=body.model_dump(mode="json"))
        return AnswerResult.model_validate(data).accepted

    def recent(self, limit: int = 20) -> RecentReceipts:
        return RecentReceipts.model_validate(self._call("GET", "/receipts/recent", params={"limit": limit}))

    def sync_now(self) -> bool:
        return SyncNow.model_validate(self._call("POST", "/sync-now")).woken

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: object) -> object:
        for attempt in range(2):
            headers = {SECRET_HEADER: self._read_secret(fresh=attempt > 0)}
            try:
                response = self._http.request(
                    method,
                    path,
                    headers=headers,
                    timeout=timeout or self._timeout,
                    **kwargs,  # type: ignore[arg-type]
                )
            except httpx.HTTPError as exc:
                raise AgentUnavailable(f"agent at {self.base_url} does not answer: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                continue  # the agent restarted and wrote a new secret: read it again once
            if response.is_success:
                return response.json()
            is_json = "json" in response.headers.get("content-type", "")
            detail = response.json().get("detail") if is_json else ""
            raise AgentUnavailable(f"agent answered {response.status_code} to {method} {path}: {detail}")
        raise AssertionError("unreachable")

    def _read_secret(self, fresh: bool) -> str:
        if self._secret is None or fresh:
            try:
                self._secret = self.secret_file.read_text(encoding="ascii").strip()
            except OSError:
                self._secret = ""  # the agent never started here, or runs as another user: 401 says so
        return self._secret
