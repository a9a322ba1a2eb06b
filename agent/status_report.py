"""`echeck-agent status`: the register's state as facts store IT can act on, one finding a line.

From the running agent's own status when it runs; from the files (outbox, enrollment) when it does not,
so the last sync and the queue are still true after a restart, and a stopped agent is reported as
stopped, not as an unreachable cloud.
"""

from dataclasses import dataclass
from datetime import datetime

from agent import __version__
from agent.config import AgentConfig
from agent.doctor import (
    CLOCK_LIMIT_S,
    ENROLL_HINT,
    REVOKED,
    UNSYNCED_WARN_S,
    check_disk,
    check_reachable,
    check_token,
    revoked,
)
from agent.enrollment import NotEnrolled, load_enrollment
from agent.findings import Finding, Level
from agent.fiscal_checks import diagnose_atol, diagnose_shtrih
from agent.outbox_probe import probe
from agent.status import AgentStatus, OutboxView, age_seconds, latency_view


@dataclass(frozen=True)
class Report:
    status: AgentStatus
    findings: list[Finding]


def offline_status(config: AgentConfig) -> AgentStatus:
    """What the files say while the agent is stopped (read-only: nothing is created or moved)."""
    try:
        enrollment = load_enrollment(config.enrollment_path)
    except NotEnrolled:
        enrollment = None
    facts = probe(config.outbox_path)
    return AgentStatus(
        version=__version__,
        running=False,
        enrolled=enrollment is not None,
        cloud_url=config.cloud_url or (enrollment.cloud_url if enrollment else None),
        store_id=enrollment.store_id if enrollment else None,
        register_id=enrollment.register_id if enrollment else None,
        outbox=OutboxView(
            pending=facts.pending,
            acked=facts.acked,
            rejected=facts.rejected,
            total=facts.pending + facts.acked + facts.rejected,
            oldest_pending_age_s=age_seconds(facts.oldest_pending_at),
            last_acked_at=facts.last_acked_at,
            size_bytes=facts.size_bytes,
            quarantined=facts.quarantined,
            write_error=f"the outbox cannot be read: {facts.problem}" if facts.problem else None,
        ),
        sync=None,
        latency=latency_view([]),
    )


def findings(config: AgentConfig, status: AgentStatus, where: str) -> list[Finding]:
    found = [_running(status, where), _enrolled(status)]
    found += _queue(status)
    found += _sync(config, status)
    found.append(check_disk(config.data_dir, config.min_free_disk_mb))
    found += _register(config, status.running)
    if status.ui_connected is False:
        level = Level.WARNING if config.hook == "localhost" else Level.ERROR
        found.append(
            Finding(level, "no cashier UI is connected", "start `echeck-ui` in the cashier's session")
        )
    elif status.ui_connected:
        found.append(Finding(Level.OK, "a cashier UI is connected"))
    lat = status.latency
    if lat.count and lat.p50_s is not None and lat.p95_s is not None:
        found.append(Finding(Level.OK, f"close → cloud ack p50 {lat.p50_s:.2f} s, p95 {lat.p95_s:.2f} s"))
    return found


def _register(config: AgentConfig, running: bool) -> list[Finding]:
    """The fiscal register behind the hook, where asking it cannot disturb the till."""
    if config.hook == "atol-proxy":  # the web server answers status queries beside the POS's tasks
        return diagnose_atol(config.atol.upstream)
    if config.hook == "shtrih-tap":
        if running:  # the agent holds the COM port; a second opener would break the till's exchange
            return [
                Finding(
                    Level.OK, "register: the agent holds its port; `doctor` checks it with the agent stopped"
                )
            ]
        return diagnose_shtrih(config.shtrih.device_port, config.shtrih.baudrate)
    return []


def _running(status: AgentStatus, where: str) -> Finding:
    if status.running:
        return Finding(Level.OK, f"agent {status.version} running on {where}")
    return Finding(
        Level.ERROR,
        f"agent NOT running (nothing answers on {where}); what follows is read from its files",
        "start it: `systemctl start echeck-agent` (or `echeck-agent run`)",
    )


def _enrolled(status: AgentStatus) -> Finding:
    if not status.enrolled:
        return Finding(Level.ERROR, "not enrolled: receipts stay on this register", ENROLL_HINT)
    return Finding(
        Level.OK, f"enrolled: store {status.store_id}, register {status.register_id} → {status.cloud_url}"
    )


def _queue(status: AgentStatus) -> list[Finding]:
    out = status.outbox
    found: list[Finding] = []
    age = out.oldest_pending_age_s
    what = f"{out.pending} receipt(s) waiting" + (f" (oldest {age:.0f} s)" if age is not None else "")
    what += f", {out.acked} synced, last sync {_when(out.last_acked_at)}"
    stale = age is not None and age >= UNSYNCED_WARN_S
    found.append(Finding(Level.WARNING if stale else Level.OK, what, "see the cloud line" if stale else ""))
    if out.write_error:
        found.append(
            Finding(
                Level.ERROR,
                f"receipts cannot be queued: {out.write_error} ({out.write_failures} failed closes)",
                "free disk space; check the data directory",
            )
        )
    if out.over_quota and out.quota_bytes:
        found.append(
            Finding(
                Level.WARNING,
                f"outbox {out.size_bytes / 1_048_576:.0f} MB is over its "
                f"{out.quota_bytes / 1_048_576:.0f} MB quota",
                "nothing is dropped: check sync and the disk",
            )
        )
    for name in out.quarantined:
        found.append(
            Finding(
                Level.ERROR,
                f"corrupt outbox moved aside, kept: {name}",
                "recover with `sqlite3 FILE .recover`",
            )
        )
    if out.rejected:
        found.append(
            Finding(
                Level.WARNING,
                f"{out.rejected} receipt(s) dead-lettered (refused by the cloud)"
                + "".join(f"; {line}" for line in out.dead_letter[:3]),
                "once fixed: `echeck-agent requeue [--key FN:FD:FPD]`",
            )
        )
    return found


def _sync(config: AgentConfig, status: AgentStatus) -> list[Finding]:
    if not status.running:
        return [
            Finding(
                Level.OK, "cloud not checked while the agent is stopped (`echeck-agent doctor` checks it)"
            )
        ]
    sync = status.sync
    if sync is None:
        return (
            []
            if not status.enrolled
            else [Finding(Level.ERROR, "enrolled but not syncing: the token is missing", ENROLL_HINT)]
        )
    found: list[Finding] = []
    if getattr(sync, "register_revoked", False):  # the worker says so (SyncView.register_revoked)
        found.append(
            Finding(Level.ERROR, revoked(status.outbox.pending), "if that was a mistake, " + ENROLL_HINT)
        )
    elif sync.token_refused and status.cloud_url:
        # Refused or revoked? One authenticated call tells (the cloud records nothing for a refused token).
        answer = check_token(config, status.cloud_url.rstrip("/"), probe(config.outbox_path))
        if answer[0].what.startswith(REVOKED):
            found.append(answer[0])
        else:
            found.append(Finding(Level.ERROR, "the cloud REFUSES this register's token", ENROLL_HINT))
    elif sync.online:
        found.append(Finding(Level.OK, f"cloud reachable; last sync {_when(sync.last_sync_at)}"))
    elif sync.consecutive_failures:
        found.append(
            Finding(
                Level.ERROR,
                f"cloud UNREACHABLE: {sync.last_error}; {sync.consecutive_failures} failures in a row, "
                f"next try {_when(sync.next_attempt_at)}",
                "check the network; receipts are kept until the cloud takes them",
            )
        )
    elif status.cloud_url:  # no batch failed, but no heartbeat got through either: look for ourselves
        reach = check_reachable(status.cloud_url.rstrip("/"))
        if reach.level is Level.OK:
            found.append(Finding(Level.OK, "cloud reachable; the agent has not synced with it yet"))
        else:
            found.append(Finding(reach.level, f"cloud UNREACHABLE: {reach.what}", reach.advice))
    skew = sync.clock_skew_s
    if skew is not None and abs(skew) > CLOCK_LIMIT_S:
        found.append(
            Finding(
                Level.ERROR,
                f"clock {skew:+.0f} s off the cloud's",
                "set the time (NTP): fiscal times come from it",
            )
        )
    elif skew is not None:
        found.append(Finding(Level.OK, f"clock {skew:+.1f} s against the cloud"))
    return found


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"
