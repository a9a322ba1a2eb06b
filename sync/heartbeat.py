"""The heartbeat: what a register tells the cloud about itself every `heartbeat_interval_s`.

Built from values (the outbox's figures, the worker's state); sending it is the cloud client's job.
"""

from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from sync.answers import CloudAnswer
from sync.outbox import OutboxStats
from sync.protocol import UPDATE_CHANNELS, Heartbeat, HeartbeatAck
from sync.settings import SyncSettings

RECOVERED_SHOWN = 5  # quarantined outbox files named in a heartbeat (newest)
DEAD_LETTER_CHARS = 300  # one "key: reason" line


def build_heartbeat(
    settings: SyncSettings,
    stats: OutboxStats,
    *,
    now: datetime,
    last_sync_at: datetime | None,
    last_error: str | None,
    recovered: Sequence[str] = (),
    write_error: str | None = None,
    dead_letter: Sequence[str] = (),
    update_channel: str | None = None,
) -> Heartbeat:
    oldest = stats.oldest_pending_closed_at
    return Heartbeat(
        agent_version=settings.agent_version,
        queue_depth=stats.pending,
        rejected_count=stats.rejected,
        oldest_unsynced_age_s=(now - oldest).total_seconds() if oldest else None,
        last_sync_at=last_sync_at,
        last_error=last_error,
        register_time=now,
        instance_id=settings.instance_id,
        session_id=settings.session_id,
        heartbeat_interval_s=settings.heartbeat_interval_s,
        outbox_bytes=stats.size_bytes,
        outbox_quota_bytes=stats.quota_bytes,
        outbox_recovered=list(recovered)[-RECOVERED_SHOWN:],
        write_error=write_error,
        dead_letter=[line[:DEAD_LETTER_CHARS] for line in dead_letter],
        update_channel=next((c for c in UPDATE_CHANNELS if c == update_channel), None),
    )


def read_ack(answer: CloudAnswer) -> HeartbeatAck | None:
    """The cloud's ack of a heartbeat; None when the answer is a failure or unreadable."""
    if not answer.is_success:
        return None
    try:
        return HeartbeatAck.model_validate_json(answer.body)
    except ValidationError:
        return None
