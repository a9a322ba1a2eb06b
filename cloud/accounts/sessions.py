"""Server-side sessions for head-office browsers.

The cookie holds a random id (256 bits); the table keeps its SHA-256, so a database dump signs nobody in.
A session ends at sign-out, when an admin revokes the user's sessions, after `IDLE` without a request, or
`LIFETIME` after sign-in, whichever comes first. Each has its own CSRF token for the pages' forms.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from cloud.accounts.models import User, UserSession
from cloud.credentials import sha256_hex
from cloud.db.types import utcnow
from cloud.logs import event

log = logging.getLogger("cloud.accounts")
LIFETIME = timedelta(hours=12)
IDLE = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # "last seen" is written at most once a minute per session


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session: UserSession


def start(session: Session, user: User, client: str = "") -> tuple[str, UserSession]:
    """A new session; returns the cookie value (shown to this browser only) and the row."""
    assert user.id is not None
    cookie = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        user_id=user.id,
        id_hash=sha256_hex(cookie),
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        last_seen_at=now,
        expires_at=now + LIFETIME,
        client=client[:200],
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    event(log, logging.INFO, "user.signed_in", tenant_id=user.tenant_id, user_id=user.id, session_id=row.id)
    return cookie, row


def resolve(session: Session, cookie: str | None) -> SignedIn | None:
    """The live session the cookie names, or None (unknown, signed out, revoked, expired, user disabled)."""
    if not cookie or len(cookie) > 100:
        return None
    row = session.exec(select(UserSession).where(UserSession.id_hash == sha256_hex(cookie))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now or row.last_seen_at + IDLE <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.commit()
        session.refresh(row)
        session.refresh(user)
    return SignedIn(user, row)


def end(session: Session, cookie: str | None) -> None:
    """Sign-out: the session stops working at once, wherever its cookie was copied."""
    if not cookie:
        return
    row = session.exec(select(UserSession).where(UserSession.id_hash == sha256_hex(cookie))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
        event(log, logging.INFO, "user.signed_out", user_id=row.user_id, session_id=row.id)
