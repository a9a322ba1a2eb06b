"""Provider callbacks cannot be replayed: each event is applied once.

Three layers, each in its place: the adapter checks the signature (over the body and, for e-mail, the
timestamp); the adapter refuses events whose signed time is outside `REPLAY_WINDOW` (Viber, e-mail);
and here every event's key is remembered, so a callback captured and sent again inside the window applies
nothing. A replay is answered 200 like a provider's honest retry (which it cannot be told apart from), so
the provider stops retrying; it is counted as `replayed` and logged.
"""

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cloud.delivery.cascade import Channel
from cloud.delivery.channels.base import REPLAY_WINDOW, ProviderReport
from cloud.delivery.models import ReportSeen
from cloud.logs import event

log = logging.getLogger("cloud.delivery")
KEEP = 2 * REPLAY_WINDOW  # an event older than the window is refused by its timestamp anyway

__all__ = ["KEEP", "REPLAY_WINDOW", "first_seen"]


def first_seen(
    session: Session, tenant_id: int, channel: Channel, reports: list[ProviderReport], now: datetime
) -> list[ProviderReport]:
    """The reports whose events were never seen before; the others are replays. Commits the memory."""
    table: sa.Table = ReportSeen.__table__  # type: ignore[attr-defined]
    keyed = {rep.event_key[:200]: rep for rep in reports if rep.event_key}
    fresh: set[str] = set()
    if keyed:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "channel", "event_key"])
            .returning(table.c.event_key)
        )
        rows = [
            {"tenant_id": tenant_id, "channel": channel.value, "event_key": key, "seen_at": now}
            for key in keyed
        ]
        fresh = {key for (key,) in session.execute(stmt, rows)}
    session.execute(sa.delete(table).where(table.c.seen_at < now - KEEP))
    session.commit()
    replayed = len(keyed) - len(fresh)
    if replayed:
        event(log, logging.WARNING, "report.replayed", tenant_id=tenant_id, channel=channel, events=replayed)
    return [rep for rep in reports if not rep.event_key or rep.event_key[:200] in fresh]
