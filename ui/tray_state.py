"""The tray icon's colour and tooltip facts from the agent's status, as values: no Qt here."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from agent.local_schemas import AgentStatus

STALE_PENDING_S = 120.0  # a receipt waiting longer than this means the queue is not draining


class Level(StrEnum):
    SYNCED = "synced"  # green: nothing waiting, or it drains
    GROWING = "growing"  # amber: receipts pile up (slow or intermittent cloud)
    OFFLINE = "offline"  # red: the cloud is unreachable, refuses us, or the register is not enrolled
    AGENT_DOWN = "agent_down"  # grey: the agent does not answer; said quietly, the till goes on


COLOURS = {
    Level.SYNCED: "#2e9d57",
    Level.GROWING: "#e8a317",
    Level.OFFLINE: "#d64545",
    Level.AGENT_DOWN: "#8a8f98",
}


@dataclass(frozen=True, slots=True)
class TrayView:
    level: Level
    pending: int = 0
    last_sync_at: datetime | None = None
    error: str | None = None
    enrolled: bool = True

    @property
    def colour(self) -> str:
        return COLOURS[self.level]


def tray_view(status: AgentStatus | None, previous_pending: int | None = None) -> TrayView:
    if status is None:
        return TrayView(Level.AGENT_DOWN)
    pending = status.outbox.pending
    sync = status.sync
    last = sync.last_sync_at if sync else None
    if not status.enrolled or sync is None:
        return TrayView(Level.OFFLINE, pending, None, None, enrolled=status.enrolled)
    if not sync.online or sync.consecutive_failures > 0:
        return TrayView(Level.OFFLINE, pending, last, sync.last_error)
    age = status.outbox.oldest_pending_age_s or 0.0
    growing = previous_pending is not None and pending > previous_pending and pending > 1
    if growing or age > STALE_PENDING_S:
        return TrayView(Level.GROWING, pending, last)
    return TrayView(Level.SYNCED, pending, last)
