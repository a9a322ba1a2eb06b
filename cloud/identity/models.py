"""Identity's tables (docs/identity.md).

- `identity_node`: one row per identifier (kind + value, never a raw contact), with its quarantine flag.
- `identity_edge`: every observation, append-only: two identifiers seen together (or one alone), by which
  tenant, from which receipt / event / page, when, and what the guardrails decided (with the reason).
- `identity_revocation`: an admin's "this edge is wrong" (undo); the edge row itself never changes.
- `identity_member`: the component mapping, node → profile id (the smallest node id of its component).
- `identity_profile`: one row per profile id: what the linker locks (`FOR UPDATE`) while it changes a
  component, so concurrent workers on PostgreSQL never interleave on one profile.
- `identity_merge_log`: append-only: which edge merged which profiles, splits, quarantines, rebuilds.
- `identity_seen`: which tenant observed which node: a tenant's view of the shared graph.
- `identity_blocked`: a tenant's own values that never link (the shop's phone and e-mail), hashed.
- `identity_release`: a tenant's release of a quarantined identifier: that tenant's links of it count again
  (the quarantine stays for every other tenant).

Edges and members have no foreign keys on purpose: they hold millions of rows that the rebuild and the
benchmarks write in bulk, and only this package writes them (erasure deletes edges before nodes).
Erasure is the one exception to "append-only": a buyer's links are deleted, not flagged.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class IdentityNode(CloudModel, table=True):
    __tablename__ = "identity_node"
    __table_args__ = (sa.UniqueConstraint("kind", "value"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=8)
    value: str = Field(max_length=80)
    first_seen_at: datetime = timestamp_field()
    last_seen_at: datetime = timestamp_field()
    quarantined_at: datetime | None = timestamp_field(nullable=True)
    quarantine_reason: str | None = Field(default=None, max_length=64)


class IdentityEdge(CloudModel, table=True):
    __tablename__ = "identity_edge"
    __table_args__ = (
        sa.Index(None, "a_id"),
        sa.Index(None, "b_id"),
        sa.Index(None, "tenant_id", "source", "ref"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int
    a_id: int = Field(sa_type=sa.BigInteger)
    b_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # None: `a` seen alone
    source: str = Field(max_length=8)  # receipt | event | page
    ref: str = Field(max_length=64)  # the receipt id or the event id
    at: datetime = timestamp_field()
    decision: str = Field(max_length=8)  # linked | refused | seen
    reason: str | None = Field(default=None, max_length=64)


class IdentityRevocation(CloudModel, table=True):
    __tablename__ = "identity_revocation"

    edge_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    revoked_at: datetime = timestamp_field()
    revoked_by: str = Field(max_length=100)
    reason: str = Field(default="", max_length=200)


class IdentityMember(CloudModel, table=True):
    __tablename__ = "identity_member"

    node_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    profile_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))


class IdentityProfile(CloudModel, table=True):
    __tablename__ = "identity_profile"

    id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))


class IdentityMergeLog(CloudModel, table=True):
    __tablename__ = "identity_merge_log"
    __table_args__ = (sa.Index(None, "profile_id"), sa.Index(None, "other_id"))

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    at: datetime = timestamp_field()
    action: str = Field(max_length=12)  # merge | split | quarantine | release | erase | rebuild
    profile_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # the survivor / the split one
    other_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # merged away / a new part
    edge_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    node_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # quarantine / release
    tenant_id: int | None = None  # whose observation or whose admin
    by: str = Field(default="", max_length=100)  # "linker", "admin:<e-mail>", "rebuild"
    detail: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))


class IdentitySeen(CloudModel, table=True):
    __tablename__ = "identity_seen"
    __table_args__ = (sa.Index(None, "tenant_id", "node_id"),)

    node_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    tenant_id: int = Field(primary_key=True)
    first_at: datetime = timestamp_field()
    last_at: datetime = timestamp_field()


class IdentityBlocked(CloudModel, table=True):
    __tablename__ = "identity_blocked"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    kind: str = Field(max_length=8, primary_key=True)
    value_hash: str = Field(max_length=64, primary_key=True)
    note: str = Field(default="", max_length=100)
    added_at: datetime = timestamp_field()


class IdentityRelease(CloudModel, table=True):
    """A tenant's admin lifted the quarantine of a node for that tenant: its edges count again."""

    __tablename__ = "identity_release"

    node_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    released_at: datetime = timestamp_field()
    released_by: str = Field(default="", max_length=100)
