"""How head office should see one register: online, offline or stale, and what is wrong with it. Values only.

A register is *online* when its last heartbeat came within its own interval plus a grace period, *offline*
after that, and *stale* once nothing came for `stale_after_s` (alert-worthy: a till that stopped syncing
for a long time). A register that never sent a heartbeat is *never_seen*. Problems are sentences, in Russian:
head office reads them on the fleet page and in `GET /v1/fleet/status`.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

DEFAULT_INTERVAL_S = 30.0  # what agents use unless their heartbeat says otherwise


class RegisterState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    STALE = "stale"
    NEVER_SEEN = "never_seen"
    REVOKED = "revoked"  # head office revoked its token: out of service until enrolled again


# Worst first: a store shows the worst state of its registers (a revoked one is out of service, not trouble).
SEVERITY = {
    RegisterState.STALE: 4,
    RegisterState.OFFLINE: 3,
    RegisterState.NEVER_SEEN: 2,
    RegisterState.ONLINE: 1,
    RegisterState.REVOKED: 0,
}


@dataclass(frozen=True, slots=True)
class FleetPolicy:
    grace_s: float = 30.0
    stale_after_s: float = 900.0
    clock_skew_limit_s: float = 120.0  # fiscal times come from the register clock: minutes off matters
    clone_window_s: float = 86_400.0  # a clone flag shows this long after the last evidence
    backlog_age_limit_s: float = 3600.0  # oldest unsynced receipt older than this: a problem

    ENV: ClassVar[dict[str, str]] = {
        "ECHECK_FLEET_GRACE_S": "grace_s",
        "ECHECK_FLEET_STALE_S": "stale_after_s",
        "ECHECK_FLEET_CLOCK_SKEW_S": "clock_skew_limit_s",
        "ECHECK_FLEET_CLONE_WINDOW_S": "clone_window_s",
        "ECHECK_FLEET_BACKLOG_AGE_S": "backlog_age_limit_s",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "FleetPolicy":
        env = os.environ if env is None else env
        values: dict[str, float] = {}
        for key, name in cls.ENV.items():
            if env.get(key):
                try:
                    values[name] = float(env[key])
                except ValueError as exc:
                    raise ValueError(f"{key}={env[key]!r} is not a number of seconds") from exc
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Reported:
    """What the register's last heartbeat said (the columns of `register`)."""

    last_heartbeat_at: datetime | None
    heartbeat_interval_s: float | None
    queue_depth: int
    rejected_count: int
    oldest_unsynced_age_s: float | None
    last_error: str | None
    clock_skew_s: float | None
    outbox_bytes: int | None
    outbox_quota_bytes: int | None
    outbox_recovered: list[str]
    write_error: str | None
    clone_suspected_at: datetime | None
    clone_detail: str | None


@dataclass(frozen=True, slots=True)
class Assessment:
    state: RegisterState
    since_heartbeat_s: float | None
    oldest_unsynced_age_s: float | None  # as of now: the reported age plus the time since it was reported
    clock_off: bool
    clone_suspected: bool
    over_quota: bool
    problems: list[str]


def assess(r: Reported, now: datetime, policy: FleetPolicy) -> Assessment:
    since = (now - r.last_heartbeat_at).total_seconds() if r.last_heartbeat_at else None
    interval = r.heartbeat_interval_s or DEFAULT_INTERVAL_S
    if since is None:
        state = RegisterState.NEVER_SEEN
    elif since <= interval + policy.grace_s:
        state = RegisterState.ONLINE
    elif since <= policy.stale_after_s:
        state = RegisterState.OFFLINE
    else:
        state = RegisterState.STALE
    backlog_age = r.oldest_unsynced_age_s
    if backlog_age is not None and since is not None and r.queue_depth:
        backlog_age += max(0.0, since)
    clock_off = r.clock_skew_s is not None and abs(r.clock_skew_s) > policy.clock_skew_limit_s
    clone = r.clone_suspected_at is not None and now - r.clone_suspected_at <= timedelta(
        seconds=policy.clone_window_s
    )
    over_quota = (
        r.outbox_bytes is not None
        and r.outbox_quota_bytes is not None
        and r.outbox_bytes > r.outbox_quota_bytes
    )
    problems: list[str] = []
    if state is RegisterState.STALE:
        problems.append(f"нет сигнала {_human(since or 0)}")
    elif state is RegisterState.OFFLINE:
        problems.append(f"нет сигнала {_human(since or 0)} (ожидается каждые {interval:.0f} с)")
    if clone:
        problems.append(
            r.clone_detail or "два агента работают с токеном этой кассы (скопированный образ диска?)"
        )
    if r.write_error:
        problems.append(f"касса не может поставить чеки в очередь: {r.write_error}")
    if r.outbox_recovered:
        problems.append(f"повреждённая очередь чеков отложена на кассе: {', '.join(r.outbox_recovered)}")
    if over_quota:
        problems.append(f"очередь чеков больше квоты ({_mb(r.outbox_bytes)} из {_mb(r.outbox_quota_bytes)})")
    if clock_off and r.clock_skew_s is not None:
        way = "спешат" if r.clock_skew_s > 0 else "отстают"
        problems.append(f"часы кассы {way} на {_human(abs(r.clock_skew_s))} относительно облака")
    if r.rejected_count:
        problems.append(f"облако отклонило чеков: {r.rejected_count} (лежат на кассе для разбора)")
    if backlog_age is not None and backlog_age > policy.backlog_age_limit_s:
        problems.append(
            f"старейший неотправленный чек ждёт {_human(backlog_age)} (в очереди {r.queue_depth})"
        )
    if r.last_error and state is RegisterState.ONLINE:
        problems.append(f"последняя ошибка отправки: {r.last_error[:200]}")
    return Assessment(state, since, backlog_age, clock_off, clone, over_quota, problems)


def worst(states: list[RegisterState]) -> RegisterState | None:
    return max(states, key=SEVERITY.__getitem__) if states else None


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} с"
    if seconds < 7200:
        return f"{seconds / 60:.0f} мин"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} ч"
    return f"{seconds / 86400:.1f} дн."


def _mb(value: int | None) -> str:
    return f"{(value or 0) / 1_048_576:.1f} МБ"
