"""The agent's configuration: a TOML file in the platform's config directory, overridable by flag and env.

Precedence: defaults < TOML file < environment (ECHECK_*) < command-line flags. Nothing is required: an
agent with no file listens on 127.0.0.1:8765 and keeps its data in the platform's data directory.
"""

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

APP = "echeck"
CONFIG_ENV = "ECHECK_AGENT_CONFIG"


class ConfigError(ValueError):
    """The configuration file or an override is wrong; the message names the key and the file."""


@dataclass(frozen=True)
class SyncSettings:
    batch_size: int = 200
    linger_s: float = 0.05
    heartbeat_s: float = 30.0
    timeout_s: float = 10.0
    gzip: bool = True  # compress batches (a cloud that answers 415 gets plain JSON)
    retention_days: float = 30.0  # acked receipts are kept this long on the register, then purged
    outbox_quota_mb: float = 512.0  # over it: an alarm in the log, status and heartbeat; nothing is dropped
    maintenance_s: float = 3600.0  # how often the purge and the quota check run
    backoff_base_s: float = 0.5  # first retry after a failure waits up to this (full jitter) ...
    backoff_cap_s: float = 30.0  # ... doubling per failure up to this


HOOKS = ("localhost", "atol-proxy", "shtrih-tap")


@dataclass(frozen=True)
class AtolSettings:
    """[atol]: the proxy takes the ATOL web server's port; the real server moves to `upstream`."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 16732
    upstream: str = "http://127.0.0.1:16733"
    timeout_s: float = 30.0  # one request to the real web server


@dataclass(frozen=True)
class ShtrihSettings:
    """[shtrih]: the tap's end of the POS's (virtual) COM port, and the register's port or socket:// URL."""

    pos_port: str = ""
    device_port: str = ""
    baudrate: int = 115200
    close_wait_s: float = 0.3  # at the close, how much longer the tap waits for the cashier's answer


@dataclass(frozen=True)
class UpdateSettings:
    """[updates]: signed updates of a packaged agent (Windows; Linux updates through apt). Off while
    `repository_url` is empty."""

    repository_url: str = ""  # the TUF repository head office publishes (metadata/ and targets/ under it)
    install_root: str = ""  # where versions/ and `current` live; empty: the directory above the program's
    channel: str = "stable"  # until the cloud's heartbeat answer names the store's channel
    check_interval_s: float = 3600.0
    settle_s: float = 30.0  # no checkout open for this long before the update is applied
    health_timeout_s: float = 60.0  # the new version must answer healthy within this, else rollback
    service_name: str = "echeck-agent"  # the Windows service the applier stops and starts

    @property
    def enabled(self) -> bool:
        return bool(self.repository_url)


@dataclass(frozen=True)
class AgentConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8765
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP)))
    cloud_url: str | None = None  # set by enrollment; override to point the agent at another cloud
    credentials: str = "auto"  # auto | keyring | file
    log_level: str = "INFO"
    sync: SyncSettings = field(default_factory=SyncSettings)
    hook: str = "localhost"  # localhost | atol-proxy | shtrih-tap; the localhost checkout API is always on
    ask_timeout_s: float = 20.0  # how long a hook waits for the cashier's answer before the sale goes on
    atol: AtolSettings = field(default_factory=AtolSettings)
    shtrih: ShtrihSettings = field(default_factory=ShtrihSettings)
    updates: UpdateSettings = field(default_factory=UpdateSettings)
    # The local API answers only requests whose Host is loopback, an IP address, this machine's name or one
    # of these names (DNS rebinding: a web page must not reach the API under its own domain).
    allowed_hosts: tuple[str, ...] = ()
    # POS clients send the POS token (`echeck-agent pos-token`); always required beyond loopback.
    require_pos_token: bool = False
    max_open_checkouts: int = 100  # past it new opens get 429; a live checkout is never evicted
    checkout_idle_s: float = 3600.0  # an open checkout untouched this long counts as abandoned
    min_free_disk_mb: float = 200.0  # `doctor` and `status` warn below this on the data directory's disk
    # A group whose members may read the local UI secret: the cashier's account when the agent runs as
    # another user (the .deb's `echeck` service user; the group is `echeck-ui`). Empty: only the agent's user.
    ui_group: str = ""
    source: Path | None = None  # the file this came from, for `echeck-agent config`

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def enrollment_path(self) -> Path:
        return self.data_dir / "enrollment.json"

    @property
    def pos_token_path(self) -> Path:
        return self.data_dir / "pos-token"

    def to_toml(self) -> str:
        lines = ["[agent]"]
        for key, value in asdict(self).items():
            if key in ("sync", "source", "atol", "shtrih", "updates") or value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("\n[sync]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in asdict(self.sync).items()]
        for section in ("atol", "shtrih", "updates"):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in asdict(getattr(self, section)).items()]
        return "\n".join(lines) + "\n"


ENV_KEYS = {
    "ECHECK_AGENT_HOST": "listen_host",
    "ECHECK_AGENT_PORT": "listen_port",
    "ECHECK_AGENT_DATA_DIR": "data_dir",
    "ECHECK_CLOUD_URL": "cloud_url",
    "ECHECK_AGENT_CREDENTIALS": "credentials",
    "ECHECK_LOG_LEVEL": "log_level",
    "ECHECK_AGENT_HOOK": "hook",
}


# Where the .deb puts the packaged agent's configuration (installer/linux/agent.toml).
SYSTEM_CONFIG = Path("/etc/echeck/agent.toml")


def default_config_path() -> Path:
    """The packaged (frozen) agent on a machine with the system configuration reads that one, so store IT's
    `echeck-agent doctor` sees what the service sees; otherwise this user's config directory."""
    if getattr(sys, "frozen", False) and os.name == "posix" and SYSTEM_CONFIG.is_file():
        return SYSTEM_CONFIG
    return Path(platformdirs.user_config_dir(APP)) / "agent.toml"


def named_config_path(env: Mapping[str, str]) -> Path | None:
    return Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None


def require_named_file(path: Path | None, env: Mapping[str, str]) -> None:
    """A file named by --config or $ECHECK_AGENT_CONFIG must exist: a typo must not mean defaults."""
    named = path or named_config_path(env)
    if named is not None and not named.is_file():
        raise ConfigError(f"{named}: no such configuration file (named by --config or ${CONFIG_ENV})")


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> AgentConfig:
    env = os.environ if env is None else env
    path = path or named_config_path(env) or default_config_path()
    values: dict[str, Any] = {}
    sync_values: dict[str, Any] = {}
    source = None
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        values.update(doc.get("agent", {}))
        sync_values.update(doc.get("sync", {}))
        values.update({section: doc[section] for section in ("atol", "shtrih", "updates") if section in doc})
        source = path
    values.update({name: env[key] for key, name in ENV_KEYS.items() if env.get(key)})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _build(values, sync_values, source or path)


def _build(values: dict[str, Any], sync_values: dict[str, Any], source: Path) -> AgentConfig:
    known = {f.name for f in fields(AgentConfig)}
    unknown = set(values) - set(known) - {"sync"}
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) in [agent]: {', '.join(sorted(unknown))}")
    try:
        config = AgentConfig(
            **{k: _coerce(k, v, AgentConfig) for k, v in values.items()},
            sync=replace(SyncSettings(), **{k: _coerce(k, v, SyncSettings) for k, v in sync_values.items()}),
            source=source,
        )
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    if config.hook not in HOOKS:
        raise ConfigError(f"{source}: hook must be one of {', '.join(HOOKS)}, not {config.hook!r}")
    if config.credentials not in ("auto", "keyring", "file"):
        raise ConfigError(f"{source}: credentials must be auto, keyring or file, not {config.credentials!r}")
    if config.updates.channel not in ("stable", "beta"):
        raise ConfigError(
            f"{source}: [updates] channel must be stable or beta, not {config.updates.channel!r}"
        )
    if config.cloud_url and not config.cloud_url.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: cloud_url must start with https:// (or http:// on a test bench)")
    return config


def _coerce(name: str, value: Any, cls: type) -> Any:
    kinds = {f.name: f.type for f in fields(cls)}
    if name not in kinds:
        raise ConfigError(f"unknown setting {name!r}")
    kind = kinds[name]
    if kind in (AtolSettings, ShtrihSettings, UpdateSettings):
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        return replace(kind(), **{k: _coerce(k, v, kind) for k, v in value.items()})
    try:
        if kind in (int, "int"):
            return int(value)
        if kind in (float, "float"):
            return float(value)
        if kind in (Path, "Path"):
            return Path(value).expanduser()
        if kind in (bool, "bool"):
            return _boolean(value)
        if kind in (tuple[str, ...], "tuple[str, ...]"):
            return (value,) if isinstance(value, str) else tuple(str(v) for v in value)
    except (TypeError, ValueError) as exc:
        wanted = _KIND_WORDS.get(str(getattr(kind, "__name__", kind)), "of the right type")
        raise ConfigError(f"setting {name!r}: {value!r} is not {wanted}") from exc
    return value


_KIND_WORDS = {"int": "a whole number", "float": "a number", "Path": "a path", "bool": "true or false"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
