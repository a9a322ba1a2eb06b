"""Clone detection: two agents using one register's token (a cloned disk image) interleave sessions."""

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cloud.accounts.models import Register
from cloud.fleet.models import RegisterSession
from cloud.logs import event

log = logging.getLogger("cloud.fleet")
SESSION_KEEP = timedelta(days=7)


def note_session(
    session: Session, register: Register, session_id: str, instance_id: str | None, now: datetime
) -> None:
    """Record the agent session; flag the register when an older session speaks after a newer one.

    One machine's sessions only follow each other. Two agents sharing one token interleave, so a known
    session that is not the latest one coming back is the evidence of a clone (restarts never do that).
    """
    seen = session.exec(
        select(RegisterSession).where(
            RegisterSession.register_id == register.id, RegisterSession.session_id == session_id
        )
    ).first()
    latest = register.session_id
    if seen is None:
        session.add(
            RegisterSession(
                register_id=register.id or 0,
                session_id=session_id,
                instance_id=instance_id,
                first_seen=now,
                last_seen=now,
            )
        )
    else:
        seen.last_seen = now
        seen.beats += 1
        session.add(seen)
    if seen is not None and latest is not None and latest != session_id:
        other = session.exec(
            select(RegisterSession).where(
                RegisterSession.register_id == register.id, RegisterSession.session_id == latest
            )
        ).first()
        instances = sorted({i for i in (instance_id, other.instance_id if other else None) if i})
        register.clone_suspected_at = now
        who = " и ".join(instances) if len(instances) > 1 else f"{(instances or ['?'])[0]} (дважды)"
        register.clone_detail = (
            f"два агента одновременно работают с токеном этой кассы (скопированный образ диска?): {who}; "
            "подключите один из них заново новым кодом"
        )[:500]
        event(
            log,
            logging.ERROR,
            "register.clone_suspected",
            register_id=register.id,
            store_id=register.store_id,
            instances=",".join(instances),
        )
    register.session_id = session_id
    register.instance_id = instance_id or register.instance_id
    session.execute(
        sa.delete(RegisterSession).where(
            col(RegisterSession.register_id) == register.id,
            col(RegisterSession.last_seen) < now - SESSION_KEEP,
        )
    )
