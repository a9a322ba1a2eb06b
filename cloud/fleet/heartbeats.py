"""Heartbeats: what a register reports about itself, kept on its row for the fleet status."""

import logging
from datetime import UTC, datetime

from sqlmodel import Session

from cloud.accounts.models import Register, Store
from cloud.db.types import utcnow
from cloud.fleet.clones import note_session
from cloud.logs import event
from sync.protocol import UPDATE_CHANNELS, Heartbeat, HeartbeatAck

log = logging.getLogger("cloud.fleet")


def _aware(value: datetime) -> datetime:
    # Agents should send aware times; a naive one is taken as UTC rather than guessed from a zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_heartbeat(session: Session, register: Register, beat: Heartbeat) -> HeartbeatAck:
    now = utcnow()
    skew = (_aware(beat.register_time) - now).total_seconds()
    register.last_heartbeat_at = now
    register.agent_version = beat.agent_version or register.agent_version
    register.queue_depth = beat.queue_depth
    register.rejected_count = beat.rejected_count
    register.oldest_unsynced_age_s = beat.oldest_unsynced_age_s
    register.last_sync_at = _aware(beat.last_sync_at) if beat.last_sync_at else None
    register.last_error = beat.last_error[:1000] if beat.last_error else None
    register.clock_skew_s = round(skew, 3)
    # Optional fields (absent from v1 agents: left as they were, or cleared where absence means "none").
    register.heartbeat_interval_s = beat.heartbeat_interval_s or register.heartbeat_interval_s
    register.outbox_bytes = beat.outbox_bytes
    register.outbox_quota_bytes = beat.outbox_quota_bytes
    register.outbox_recovered = list(beat.outbox_recovered) or None
    register.write_error = beat.write_error[:1000] if beat.write_error else None
    register.dead_letter = list(beat.dead_letter) or None
    register.update_channel = beat.update_channel or register.update_channel
    if beat.session_id:
        note_session(session, register, beat.session_id, beat.instance_id, now)
    session.add(register)
    session.commit()
    if beat.write_error or beat.outbox_recovered:
        event(
            log,
            logging.ERROR,
            "register.outbox_fault",
            register_id=register.id,
            store_id=register.store_id,
            write_error=beat.write_error or "",
            recovered=",".join(beat.outbox_recovered),
        )
    level = logging.WARNING if abs(skew) > 300 or beat.rejected_count else logging.INFO
    event(
        log,
        level,
        "register.heartbeat",
        register_id=register.id,
        store_id=register.store_id,
        queue_depth=beat.queue_depth,
        rejected=beat.rejected_count,
        clock_skew_s=round(skew, 1),
        last_error=beat.last_error or "",
    )
    ack = HeartbeatAck(cloud_time=now, clock_skew_s=round(skew, 3))
    if beat.update_channel is not None:  # only agents that know channels hear theirs (older ones forbid it)
        store = session.get(Store, register.store_id)
        ack.update_channel = next((c for c in UPDATE_CHANNELS if store and c == store.update_channel), None)
    return ack
