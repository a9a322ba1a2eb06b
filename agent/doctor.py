"""`echeck-agent doctor`: everything a register needs, checked in order, one finding a line.

Configuration, enrollment, the cloud (reachable, TLS, the token by an authenticated call, a revoked
register, the clock), the disk, the outbox (health, oldest unsynced receipt), the running agent and its
cashier UI, then the fiscal register behind the configured hook (`agent.fiscal_checks`).
"""

import shutil
import ssl
from datetime import UTC, datetime
from pathlib import Path

import httpx

from agent import __version__
from agent.agent_probe import ask_agent
from agent.config import AgentConfig
from agent.credentials import open_store
from agent.discovery import is_loopback
from agent.enrollment import TOKEN_NAME, Enrollment, NotEnrolled, load_enrollment
from agent.findings import Finding, Level
from agent.fiscal_checks import diagnose as diagnose_register
from agent.outbox_probe import OutboxFacts, probe
from sync.protocol import HEARTBEAT_PATH, Heartbeat, HeartbeatAck

CLOCK_LIMIT_S = 120.0  # the cloud's default fleet limit (ECHECK_FLEET_CLOCK_SKEW_S)
UNSYNCED_WARN_S = 3600.0  # the oldest unsynced receipt: a warning after an hour, an error after a day
UNSYNCED_ERROR_S = 86400.0
TIMEOUT_S = 5.0
ENROLL_HINT = "run `echeck-agent enroll --cloud-url URL --code CODE` with a new code from head office"
REVOKED = "revoked by the cloud"  # every revoked finding starts so (status, doctor, the agent's log)


def revoked(kept: int) -> str:
    return (
        f"{REVOKED}: {kept} receipts kept; head office revoked this register, so the cloud refuses its "
        "receipts until it is enrolled again (the queue stays on this machine)"
    )


def diagnose(config: AgentConfig) -> list[Finding]:
    outbox = probe(config.outbox_path, check_integrity=True)
    found = [check_config(config)]
    found += check_cloud(config, outbox)
    found.append(check_disk(config.data_dir, config.min_free_disk_mb))
    found += check_outbox(config, outbox)
    found += check_agent(config)
    found += diagnose_register(config)
    return found


def check_config(config: AgentConfig) -> Finding:
    source = config.source if config.source and config.source.exists() else None
    where = f"configuration {source}" if source else "configuration: defaults (no agent.toml)"
    return Finding(Level.OK, f"{where}; hook {config.hook}, data in {config.data_dir}")


def check_cloud(config: AgentConfig, outbox: OutboxFacts) -> list[Finding]:
    try:
        enrollment: Enrollment | None = load_enrollment(config.enrollment_path)
    except NotEnrolled:
        enrollment = None
    if enrollment is None:
        return [Finding(Level.ERROR, "this register is not enrolled", ENROLL_HINT)]
    url = (config.cloud_url or enrollment.cloud_url).rstrip("/")
    found = [check_reachable(url)]
    if found[0].level is Level.ERROR:
        return found
    return found + check_token(config, url, outbox)


def check_token(config: AgentConfig, url: str, outbox: OutboxFacts) -> list[Finding]:
    """An authenticated call (a heartbeat): the token accepted, refused, or the register revoked."""
    store = open_store(config.credentials, config.data_dir)
    token = store.get(TOKEN_NAME)
    if not token:
        return [Finding(Level.ERROR, f"the register token is missing from {store.description}", ENROLL_HINT)]
    return _heartbeat(url, token, outbox)


def check_reachable(url: str) -> Finding:
    try:
        response = httpx.get(url + "/healthz", timeout=TIMEOUT_S)
    except httpx.ConnectError as exc:
        if isinstance(exc.__cause__ or exc.__context__, ssl.SSLError) or "SSL" in str(exc):
            return Finding(
                Level.ERROR,
                f"TLS to the cloud {url} fails: {exc}",
                "the cloud's certificate is not trusted here: check the URL, the date, and the company CA",
            )
        return Finding(
            Level.ERROR, f"the cloud {url} is unreachable: {exc}", "check the network, proxy and firewall"
        )
    except httpx.HTTPError as exc:
        return Finding(Level.ERROR, f"the cloud {url} does not answer: {exc!r}", "check the network")
    if response.status_code != 200:
        return Finding(
            Level.WARNING,
            f"the cloud {url} answers /healthz with {response.status_code}",
            "tell head office IT",
        )
    if url.startswith("http://") and not is_loopback(httpx.URL(url).host):
        return Finding(
            Level.WARNING, f"the cloud {url} is reachable over plain http", "use its https:// address"
        )
    return Finding(
        Level.OK, f"the cloud {url} is reachable" + (" (TLS ok)" if url.startswith("https") else "")
    )


def _heartbeat(url: str, token: str, outbox: OutboxFacts) -> list[Finding]:
    now = datetime.now(UTC)
    beat = Heartbeat(
        agent_version=__version__,
        queue_depth=outbox.pending,
        rejected_count=outbox.rejected,
        oldest_unsynced_age_s=(now - outbox.oldest_pending_at).total_seconds()
        if outbox.oldest_pending_at
        else None,
        last_sync_at=outbox.last_acked_at,
        register_time=now,
    )
    body = beat.model_dump(mode="json", exclude_none=True)
    kept = outbox.pending
    headers = {"Authorization": f"Bearer {token}", "User-Agent": f"echeck-agent/{__version__} doctor"}
    try:
        response = httpx.post(url + HEARTBEAT_PATH, json=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return [Finding(Level.ERROR, f"the heartbeat to {url} failed: {exc!r}", "check the network")]
    code = _code(response)
    if response.status_code == 403 and code == "register_revoked":
        return [
            Finding(
                Level.ERROR,
                revoked(kept),
                "if that was a mistake, " + ENROLL_HINT,
            )
        ]
    if response.status_code in (401, 403):
        return [
            Finding(
                Level.ERROR, f"the cloud refuses this register's token ({response.status_code})", ENROLL_HINT
            )
        ]
    if response.status_code != 200:
        return [
            Finding(
                Level.ERROR,
                f"the cloud answers the heartbeat with {response.status_code}: {response.text[:200]}",
                "tell head office IT",
            )
        ]
    found = [Finding(Level.OK, "the cloud accepts this register's token (heartbeat)")]
    try:
        skew = HeartbeatAck.model_validate(response.json()).clock_skew_s
    except ValueError:
        return found
    if abs(skew) > CLOCK_LIMIT_S:
        found.append(
            Finding(
                Level.ERROR,
                f"this register's clock is {skew:+.0f} s off the cloud's",
                "set the time (NTP): fiscal documents and sync take it from this clock",
            )
        )
    else:
        found.append(Finding(Level.OK, f"clock {skew:+.1f} s against the cloud"))
    return found


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def check_disk(data_dir: Path, min_free_mb: float) -> Finding:
    where = next((p for p in (data_dir, *data_dir.parents) if p.exists()), Path("/"))
    free_mb = shutil.disk_usage(where).free / 1_048_576
    if free_mb < min_free_mb:
        return Finding(
            Level.ERROR,
            f"only {free_mb:.0f} MB free on the disk of {data_dir} (minimum {min_free_mb:g} MB)",
            "free disk space: on a full disk closed receipts cannot be queued",
        )
    return Finding(Level.OK, f"{free_mb:.0f} MB free on the disk of {data_dir}")


def check_outbox(config: AgentConfig, outbox: OutboxFacts) -> list[Finding]:
    found: list[Finding] = []
    path = config.outbox_path
    if outbox.problem:
        found.append(
            Finding(
                Level.ERROR,
                f"the outbox {path} is corrupt: {outbox.problem}",
                "restart the agent: it moves the file aside intact and starts a new one; then recover the "
                "old file's receipts with `sqlite3 FILE .recover`",
            )
        )
    elif not outbox.exists:
        found.append(Finding(Level.OK, "outbox: none yet (no receipt closed on this register)"))
    else:
        found.append(_unsynced(outbox))
    if outbox.quarantined:
        found.append(
            Finding(
                Level.WARNING,
                f"corrupt outbox file(s) moved aside: {', '.join(outbox.quarantined)}",
                "recover their receipts with `sqlite3 FILE .recover`, then remove the files",
            )
        )
    if outbox.rejected:
        found.append(
            Finding(
                Level.WARNING,
                f"{outbox.rejected} receipt(s) refused by the cloud (dead letter)",
                "`echeck-agent status` shows why; once fixed, `echeck-agent requeue`",
            )
        )
    return found


def _unsynced(outbox: OutboxFacts) -> Finding:
    what = f"outbox healthy: {outbox.pending} receipt(s) waiting, {outbox.acked} synced"
    if outbox.oldest_pending_at is None:
        return Finding(Level.OK, what)
    age = (datetime.now(UTC) - outbox.oldest_pending_at).total_seconds()
    what += f", the oldest unsynced closed {age / 3600:.1f} h ago"
    if age >= UNSYNCED_WARN_S:
        level = Level.ERROR if age >= UNSYNCED_ERROR_S else Level.WARNING
        return Finding(level, what, "receipts wait for the cloud: see the cloud lines above")
    return Finding(Level.OK, what)


def check_agent(config: AgentConfig) -> list[Finding]:
    answer = ask_agent(config)
    if answer.foreign:
        return [
            Finding(
                Level.ERROR,
                f"the agent on {answer.url} is not this data directory's: {answer.foreign}",
                "check --config / --data-dir, or give the agents different ports",
            )
        ]
    if answer.status is None:
        return [
            Finding(
                Level.WARNING,
                f"the agent is not running (nothing answers on {answer.url}); the cashier UI was not checked",
                "start it: `systemctl start echeck-agent` (or `echeck-agent run`)",
            )
        ]
    found = [Finding(Level.OK, f"the agent {answer.status.version} answers on {answer.url}")]
    if answer.status.ui_connected is False:
        # With the localhost hook the POS may show its own dialog; the other hooks ask only in the popup.
        level = Level.WARNING if config.hook == "localhost" else Level.ERROR
        found.append(
            Finding(
                level,
                "no cashier UI is connected: buyers are not asked for their contact",
                "start `echeck-ui` in the cashier's desktop session (the installer adds it to autostart)",
            )
        )
    elif answer.status.ui_connected:
        found.append(Finding(Level.OK, "a cashier UI is connected"))
    return found
