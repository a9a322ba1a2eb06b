"""The tray's colour from the agent's status, without Qt."""

from datetime import UTC, datetime

from agent.local_schemas import AgentStatus
from ui.tray_state import Level, tray_view


def status(
    pending: int = 0, online: bool = True, enrolled: bool = True, age: float | None = None
) -> AgentStatus:
    return AgentStatus.model_validate(
        {
            "version": "0",
            "running": True,
            "enrolled": enrolled,
            "cloud_url": "https://c" if enrolled else None,
            "store_id": 1,
            "register_id": 1,
            "outbox": {
                "pending": pending,
                "acked": 5,
                "rejected": 0,
                "total": pending + 5,
                "oldest_pending_age_s": age,
                "last_acked_at": None,
            },
            "sync": {
                "online": online,
                "last_sync_at": datetime(2024, 1, 1, tzinfo=UTC),
                "last_error": None if online else "connection refused",
                "consecutive_failures": 0 if online else 3,
            }
            if enrolled
            else None,
            "latency": {"count": 0, "p50_s": None, "p95_s": None, "max_s": None},
        }
    )


def test_levels() -> None:
    assert tray_view(None).level is Level.AGENT_DOWN
    assert tray_view(status()).level is Level.SYNCED
    assert tray_view(status(pending=1), previous_pending=0).level is Level.SYNCED  # one in flight
    assert tray_view(status(pending=9), previous_pending=4).level is Level.GROWING
    assert tray_view(status(pending=2, age=600)).level is Level.GROWING
    offline = tray_view(status(pending=3, online=False))
    assert (offline.level, offline.error, offline.pending) == (Level.OFFLINE, "connection refused", 3)
    assert not tray_view(status(enrolled=False)).enrolled
    assert len({tray_view(s).colour for s in (None, status(), status(online=False))}) == 3
