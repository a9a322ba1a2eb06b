"""Failed-attempt counters with lockout, for sign-in and enrollment.

Each limit counts failures per subject (a client IP, an account, an enrollment code's first group) in a
fixed window; at `max_failures` the subject is locked out for `lockout` and every attempt, right or
wrong, is answered 429 with Retry-After until then. Counters live in the database so all worker
processes share them. Subjects that are personal (e-mails) are stored hashed.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from cloud.accounts.models import RateCounter
from cloud.credentials import sha256_hex
from cloud.db.types import utcnow
from cloud.errors import RateLimited
from cloud.logs import event

log = logging.getLogger("cloud.accounts")


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_failures: int
    window: timedelta
    lockout: timedelta
    hashed: bool = False  # the subject is personal: keep only its hash

    def key(self, subject: str) -> str:
        subject = sha256_hex(subject.lower())[:40] if self.hashed else subject[:80]
        return f"{self.name}:{subject}"


MINUTES_15 = timedelta(minutes=15)
LOGIN_PER_IP = Limit("login-ip", 30, MINUTES_15, MINUTES_15)
LOGIN_PER_ACCOUNT = Limit("login-account", 5, MINUTES_15, MINUTES_15, hashed=True)
# Codes are ~40 bits and live 72 h: 10 wrong codes per address per 15 min, then 30 min of silence, keeps
# an attacker to a few hundred guesses a day per address; the prefix limit stops one code being walked.
ENROLL_PER_IP = Limit("enroll-ip", 10, MINUTES_15, timedelta(minutes=30))
ENROLL_PER_PREFIX = Limit("enroll-prefix", 5, MINUTES_15, timedelta(minutes=30))


def check(session: Session, limit: Limit, subject: str, now: datetime | None = None) -> None:
    """Raise RateLimited while the subject is locked out."""
    now = now or utcnow()
    row = session.get(RateCounter, limit.key(subject))
    if row is not None and row.locked_until is not None and row.locked_until > now:
        wait = int((row.locked_until - now).total_seconds()) + 1
        event(log, logging.WARNING, "rate_limit.refused", limit=limit.name, retry_after_s=wait)
        raise RateLimited(
            f"слишком много неудачных попыток; попробуйте через {max(1, wait // 60)} мин", retry_after_s=wait
        )


def record_failure(session: Session, limit: Limit, subject: str, now: datetime | None = None) -> None:
    """Count one failure (committed on its own, so the caller's rollback cannot undo it)."""
    now = now or utcnow()
    key = limit.key(subject)
    for _ in range(3):  # two processes creating the same counter: the loser updates
        row = session.get(RateCounter, key)
        try:
            if row is None:
                session.add(RateCounter(key=key, window_start=now, failures=1))
            elif row.window_start <= now - limit.window:
                row.window_start, row.failures, row.locked_until = now, 1, None
                session.add(row)
            else:
                session.execute(
                    sa.update(RateCounter)
                    .where(col(RateCounter.key) == key)
                    .values(failures=col(RateCounter.failures) + 1)
                )
            session.commit()
            break
        except IntegrityError:
            session.rollback()
    row = session.get(RateCounter, key)
    if row is None:
        return
    session.refresh(row)
    if row.failures >= limit.max_failures and row.locked_until is None:
        row.locked_until = now + limit.lockout
        session.add(row)
        session.commit()
        event(
            log,
            logging.WARNING,
            "rate_limit.locked",
            limit=limit.name,
            failures=row.failures,
            locked_s=int(limit.lockout.total_seconds()),
            subject=key if not limit.hashed else limit.name + ":<hashed>",
        )


def clear(session: Session, limit: Limit, subject: str) -> None:
    """A success forgets the subject's failures (an account after a right password)."""
    row = session.get(RateCounter, limit.key(subject))
    if row is not None:
        session.delete(row)
        session.commit()
