"""Head-office users: invited by e-mail with a role and a store scope, sign in with a password.

An invitation is a one-time link (its token hashed in the table); the invitee sets the password there.
Owners are made directly (`echeck-cloud user add --role owner`), e.g. the first person of a tenant.
A forgotten password: an admin issues a reset link, the same kind of one-time link for an existing user;
setting the password there ends the user's other sessions.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cloud.accounts import audit, passwords, rate_limits
from cloud.accounts.models import Invitation, User, UserSession
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope, tenant_store_ids
from cloud.credentials import sha256_hex
from cloud.db.types import utcnow
from cloud.errors import Conflict, Gone, InvalidInput, NotFound, Unauthorized
from cloud.logs import event
from receipts.contact import ContactKind, InvalidContact, mask, normalize_email

log = logging.getLogger("cloud.accounts")
INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(days=1)
WRONG = "неверный e-mail или пароль"


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    token: str  # goes into the link once; only its hash is stored
    invitation: Invitation

    def link(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/invite/{self.token}"


def masked(email: str) -> str:
    return mask(ContactKind.EMAIL, email)


def clean_email(value: str) -> str:
    try:
        return normalize_email(value.strip())
    except InvalidContact as exc:
        raise InvalidInput(f"не похоже на e-mail: {value[:100]!r}") from exc


def scope_of(user: User | Invitation) -> StoreScope:
    return StoreScope.of(user.stores, user.regions)


def _check_scope(session: Session, tenant_id: int, role: Role, scope: StoreScope) -> None:
    if role is Role.OWNER and not scope.everything:
        raise InvalidInput("владелец видит все магазины: у него не бывает ограничений по магазинам")
    missing = scope.stores - set(tenant_store_ids(session, tenant_id, scope.stores))
    if missing:
        raise InvalidInput(f"нет таких магазинов у этой сети: {', '.join(map(str, sorted(missing)))}")


def is_registered(session: Session, email: str) -> bool:
    return session.exec(select(User.id).where(User.email == email)).first() is not None


def add_user(
    session: Session, tenant_id: int, email: str, password: str, role: Role, scope: StoreScope, actor: str
) -> User:
    """A user with a password right away (the first owner, the demo); others are invited."""
    email = clean_email(email)
    _check_scope(session, tenant_id, role, scope)
    if is_registered(session, email):
        raise Conflict(f"пользователь {masked(email)} уже есть")
    user = User(
        tenant_id=tenant_id,
        email=email,
        password_hash=passwords.hash_password(password),
        role=role.value,
        stores=sorted(scope.stores) or None,
        regions=sorted(scope.regions) or None,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session, tenant_id, actor, "user.added", masked(email), role=role.value, scope=scope.describe()
    )
    session.commit()
    session.refresh(user)
    return user


def _issue_link(
    session: Session,
    tenant_id: int,
    email: str,
    role: str,
    scope: StoreScope,
    invited_by: int | None,
    ttl: timedelta,
) -> IssuedInvitation:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = Invitation(
        tenant_id=tenant_id,
        email=email,
        role=role,
        stores=sorted(scope.stores) or None,
        regions=sorted(scope.regions) or None,
        token_hash=sha256_hex(token),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return IssuedInvitation(token, row)


def invite(
    session: Session,
    tenant_id: int,
    email: str,
    role: Role,
    scope: StoreScope,
    actor: str,
    invited_by: int | None = None,
    ttl: timedelta = INVITATION_TTL,
) -> IssuedInvitation:
    email = clean_email(email)
    _check_scope(session, tenant_id, role, scope)
    if is_registered(session, email):
        raise Conflict(f"пользователь {masked(email)} уже есть")
    issued = _issue_link(session, tenant_id, email, role.value, scope, invited_by, ttl)
    audit.record(
        session, tenant_id, actor, "user.invited", masked(email), role=role.value, scope=scope.describe()
    )
    session.commit()
    session.refresh(issued.invitation)
    event(log, logging.INFO, "user.invited", tenant_id=tenant_id, email=masked(email), role=role.value)
    return issued


def reset_link(
    session: Session,
    tenant_id: int,
    user_id: int,
    actor: str,
    invited_by: int | None = None,
    ttl: timedelta = RESET_TTL,
) -> IssuedInvitation:
    """A one-time link where an existing user sets a new password (their current one keeps working until)."""
    user = get_user(session, tenant_id, user_id)
    if user.disabled_at is not None:
        raise Conflict(f"пользователь {masked(user.email)} отключён")
    issued = _issue_link(session, tenant_id, user.email, user.role, scope_of(user), invited_by, ttl)
    audit.record(session, tenant_id, actor, "user.password_reset", masked(user.email))
    session.commit()
    session.refresh(issued.invitation)
    event(log, logging.INFO, "user.password_reset", tenant_id=tenant_id, user_id=user_id)
    return issued


def open_invitation(session: Session, token: str, now: datetime | None = None) -> Invitation:
    now = now or utcnow()
    row = (
        session.exec(select(Invitation).where(Invitation.token_hash == sha256_hex(token))).first()
        if (0 < len(token) <= 100)
        else None
    )
    if row is None:
        raise NotFound("приглашение не найдено: проверьте ссылку или попросите новое")
    if row.accepted_at is not None:
        raise Gone("по этому приглашению уже вошли; войдите с паролем")
    if row.expires_at <= now:
        raise Gone("срок приглашения истёк; попросите администратора пригласить вас снова")
    return row


def accept_invitation(session: Session, token: str, password: str) -> User:
    """A new user from an invitation, or (a reset link) a new password for the user it names."""
    row = open_invitation(session, token)
    existing = session.exec(select(User).where(User.email == row.email)).first()
    if existing is not None:
        return _set_password(session, row, existing, password)
    now = utcnow()
    user = User(
        tenant_id=row.tenant_id,
        email=row.email,
        password_hash=passwords.hash_password(password),
        role=row.role,
        stores=row.stores,
        regions=row.regions,
        created_at=now,
    )
    row.accepted_at = now
    session.add(row)
    session.add(user)
    session.flush()
    audit.record(session, row.tenant_id, row.email, "user.joined", masked(row.email), role=row.role)
    session.commit()
    session.refresh(user)
    return user


def _set_password(session: Session, link: Invitation, user: User, password: str) -> User:
    if user.tenant_id != link.tenant_id or user.disabled_at is not None:
        raise Conflict(f"пользователь {masked(link.email)} уже есть")
    now = utcnow()
    user.password_hash = passwords.hash_password(password)
    link.accepted_at = now
    for other in session.exec(
        select(UserSession).where(UserSession.user_id == user.id, col(UserSession.revoked_at).is_(None))
    ):
        other.revoked_at = now  # whoever knew the old password is signed out
        session.add(other)
    session.add(link)
    session.add(user)
    audit.record(session, user.tenant_id, user.email, "user.password_set", masked(user.email))
    session.commit()
    session.refresh(user)
    return user


def authenticate(session: Session, email: str, password: str, client_ip: str) -> User:
    """The user, or Unauthorized / RateLimited. Failures count per address and per account."""
    account = email.strip().lower()[:254]
    rate_limits.check(session, rate_limits.LOGIN_PER_IP, client_ip)
    rate_limits.check(session, rate_limits.LOGIN_PER_ACCOUNT, account)
    user = session.exec(select(User).where(User.email == account)).first()
    ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled_at is not None:
        rate_limits.record_failure(session, rate_limits.LOGIN_PER_IP, client_ip)
        rate_limits.record_failure(session, rate_limits.LOGIN_PER_ACCOUNT, account)
        event(log, logging.WARNING, "user.sign_in_failed", email=masked(account) if "@" in account else "?")
        raise Unauthorized(WRONG, scheme="Form")
    rate_limits.clear(session, rate_limits.LOGIN_PER_ACCOUNT, account)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        session.add(user)
        session.commit()
        session.refresh(user)
    return user


def get_user(session: Session, tenant_id: int, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise NotFound(f"пользователь {user_id} не найден")
    return user


def find_user(session: Session, tenant_id: int, email: str) -> User:
    user = session.exec(
        select(User).where(User.email == clean_email(email), User.tenant_id == tenant_id)
    ).first()
    if user is None:
        raise NotFound("такого пользователя нет у этой сети")
    return user


def list_users(session: Session, tenant_id: int) -> list[User]:
    return list(session.exec(select(User).where(User.tenant_id == tenant_id).order_by(col(User.id))))


def pending_invitations(session: Session, tenant_id: int) -> list[Invitation]:
    return list(
        session.exec(
            select(Invitation)
            .where(
                Invitation.tenant_id == tenant_id,
                col(Invitation.accepted_at).is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(col(Invitation.id))
        )
    )


def revoke_sessions(session: Session, tenant_id: int, user_id: int, actor: str) -> int:
    """Sign the user out everywhere; returns how many sessions ended."""
    user = get_user(session, tenant_id, user_id)
    now = utcnow()
    live = session.exec(
        select(UserSession).where(UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None))
    ).all()
    for row in live:
        row.revoked_at = now
        session.add(row)
    audit.record(session, tenant_id, actor, "user.sessions_revoked", masked(user.email), sessions=len(live))
    session.commit()
    event(
        log, logging.INFO, "user.sessions_revoked", tenant_id=tenant_id, user_id=user_id, sessions=len(live)
    )
    return len(live)


def disable_user(session: Session, tenant_id: int, user_id: int, actor: str) -> User:
    user = get_user(session, tenant_id, user_id)
    if user.role == Role.OWNER and _other_owners(session, tenant_id, user_id) == 0:
        raise Conflict("это последний владелец сети: сначала назначьте другого")
    user.disabled_at = user.disabled_at or utcnow()
    session.add(user)
    audit.record(session, tenant_id, actor, "user.disabled", masked(user.email))
    session.commit()
    revoke_sessions(session, tenant_id, user_id, actor)
    session.refresh(user)
    return user


def _other_owners(session: Session, tenant_id: int, user_id: int) -> int:
    return len(
        session.exec(
            select(User.id).where(
                User.tenant_id == tenant_id,
                User.role == Role.OWNER.value,
                User.id != user_id,
                col(User.disabled_at).is_(None),
            )
        ).all()
    )
