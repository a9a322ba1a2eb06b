"""Fleet tables beside `register`: one-time enrollment codes, and the agent sessions seen per register token
(clone detection)."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field


class EnrollmentCode(CloudModel, table=True):
    __tablename__ = "enrollment_code"

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
    register_id: int | None = Field(default=None, foreign_key="register.id")
    # Set when the code re-enrolls an existing register (rotation): the register keeps its id and history,
    # and its old tokens are revoked when the code is used.
    for_register_id: int | None = Field(default=None, foreign_key="register.id")


class RegisterSession(CloudModel, table=True):
    """One agent process that used a register's token: an agent makes a new session id at every start.

    Sessions of one machine follow each other (A1, A2, A3 …). Two machines sharing a token (a cloned disk
    image) interleave (A1, B1, A1 …): a heartbeat from an older session after a newer one is the evidence.
    """

    __tablename__ = "register_session"
    __table_args__ = (sa.UniqueConstraint("register_id", "session_id"),)

    id: int | None = Field(default=None, primary_key=True)
    register_id: int = Field(foreign_key="register.id", index=True)
    session_id: str = Field(max_length=64)
    instance_id: str | None = Field(default=None, max_length=64)
    first_seen: datetime = timestamp_field()
    last_seen: datetime = timestamp_field()
    beats: int = 1
