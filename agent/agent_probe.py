"""Asks the running agent for its status, as `status` and `doctor` do, and says whose agent answered.

The agent on the configured port may belong to another data directory (a second agent, `--data-dir`
pointing elsewhere): it then refuses this data directory's UI secret or reports another instance id, and
its status must not be shown as this one's.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from agent.config import AgentConfig
from agent.host_guard import WILDCARDS
from agent.instance import FILE as INSTANCE_FILE
from agent.local_schemas import PREFIX, SECRET_FILE, SECRET_HEADER
from agent.status import AgentStatus


@dataclass(frozen=True)
class AgentAnswer:
    url: str
    status: AgentStatus | None = None  # the running agent's own status, when it is this data dir's
    foreign: str | None = None  # why the agent answering is not this data directory's

    @property
    def running(self) -> bool:
        return self.status is not None or self.foreign is not None


def agent_url(config: AgentConfig) -> str:
    host = "127.0.0.1" if config.listen_host in WILDCARDS else config.listen_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.listen_port}"


def ask_agent(config: AgentConfig, timeout: float = 3.0) -> AgentAnswer:
    url = agent_url(config)
    secret = _read(config.data_dir / SECRET_FILE)
    headers = {SECRET_HEADER: secret} if secret else {}
    try:
        response = httpx.get(url + PREFIX + "/status", headers=headers, timeout=timeout)
    except httpx.TransportError:
        return AgentAnswer(url)
    if response.status_code != 200:
        return AgentAnswer(url, foreign=f"something else answers there (HTTP {response.status_code})")
    try:
        data = response.json()
    except ValueError:
        return AgentAnswer(url, foreign="something else answers there (not an echeck agent)")
    if "outbox" not in data:
        secret_file = config.data_dir / SECRET_FILE
        if secret is None and secret_file.exists():  # there, but not for this user
            why = f"{secret_file} cannot be read: run this as the agent's user (or the agent is another's)"
            return AgentAnswer(url, foreign=why)
        return AgentAnswer(url, foreign=f"it refuses the UI secret of {config.data_dir}: another agent's")
    status = AgentStatus.model_validate(data)
    mine = _instance_id(config.data_dir)
    if mine is not None and status.instance_id not in (None, mine):
        return AgentAnswer(
            url, foreign=f"its instance is {status.instance_id}, {config.data_dir}'s is {mine}"
        )
    return AgentAnswer(url, status=status)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _instance_id(data_dir: Path) -> str | None:
    text = _read(data_dir / INSTANCE_FILE)
    try:
        return str(json.loads(text)["instance_id"]) if text else None
    except (ValueError, KeyError, TypeError):
        return None
