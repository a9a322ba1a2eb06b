"""Head-office accounts: users, sessions, invitations, API keys with scopes, register tokens that can be
revoked, the audit log, rate-limit counters; regions on stores.

The tenant's single api key becomes an `api_key` row named "основной ключ" with scopes read+write: the same
secret keeps working and can now be rotated or revoked like any other key. Each register's token becomes a
`register_token` row.

Revision ID: 0006_accounts
Revises: 0005_jobs
Create Date: 2026-11-30

Written to match cloud/accounts/models.py and cloud/fleet/models.py; tests/cloud/test_migrations.py checks it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_accounts"
down_revision: str | None = "0005_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
LEGACY_KEY_NAME = "основной ключ"


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _fk(table: str, column: str, other: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{other}.id"], name=f"fk_{table}_{column}_{other}")


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("store") as batch:
        batch.add_column(sa.Column("region", sa.String(length=100), nullable=True))

    op.create_table(
        "register_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        _fk("register_token", "register_id", "register"),
        _pk("register_token"),
        sa.UniqueConstraint("token_hash", name="uq_register_token_token_hash"),
    )
    op.create_index("ix_register_token_register_id", "register_token", ["register_id"])
    conn.execute(
        sa.text(
            "INSERT INTO register_token (register_id, token_hash, issued_at) "
            "SELECT id, token_hash, enrolled_at FROM register"
        )
    )
    with op.batch_alter_table("register") as batch:
        batch.drop_constraint("uq_register_token_hash", type_="unique")
        batch.drop_column("token_hash")
        batch.add_column(sa.Column("revoked_at", TS, nullable=True))

    with op.batch_alter_table("enrollment_code") as batch:
        batch.add_column(sa.Column("for_register_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_enrollment_code_for_register_id_register", "register", ["for_register_id"], ["id"]
        )

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=50), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        _fk("api_key", "tenant_id", "tenant"),
        _pk("api_key"),
        sa.UniqueConstraint("key_hash", name="uq_api_key_key_hash"),
    )
    op.create_index("ix_api_key_tenant_id", "api_key", ["tenant_id"])
    conn.execute(
        sa.text(
            "INSERT INTO api_key (tenant_id, name, key_hash, prefix, scopes, created_at) "
            "SELECT id, :name, api_key_hash, 'ek_', 'read,write', created_at FROM tenant"
        ),
        {"name": LEGACY_KEY_NAME},
    )
    with op.batch_alter_table("tenant") as batch:
        batch.drop_constraint("uq_tenant_api_key_hash", type_="unique")
        batch.drop_column("api_key_hash")

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("stores", JSON, nullable=True),
        sa.Column("regions", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
        _fk("user_account", "tenant_id", "tenant"),
        _pk("user_account"),
        sa.UniqueConstraint("email", name="uq_user_account_email"),
    )
    op.create_index("ix_user_account_tenant_id", "user_account", ["tenant_id"])

    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("stores", JSON, nullable=True),
        sa.Column("regions", JSON, nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        _fk("invitation", "tenant_id", "tenant"),
        _fk("invitation", "invited_by", "user_account"),
        _pk("invitation"),
        sa.UniqueConstraint("token_hash", name="uq_invitation_token_hash"),
    )
    op.create_index("ix_invitation_tenant_id", "invitation", ["tenant_id"])

    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("client", sa.String(length=200), nullable=False),
        _fk("user_session", "user_id", "user_account"),
        _pk("user_session"),
        sa.UniqueConstraint("id_hash", name="uq_user_session_id_hash"),
    )
    op.create_index("ix_user_session_user_id", "user_session", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=254), nullable=False),
        sa.Column("detail", JSON, nullable=True),
        _fk("audit_log", "tenant_id", "tenant"),
        _pk("audit_log"),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"])

    op.create_table(
        "rate_counter",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_rate_counter"),
    )


def downgrade() -> None:
    op.drop_table("rate_counter")
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_user_session_user_id", table_name="user_session")
    op.drop_table("user_session")
    op.drop_index("ix_invitation_tenant_id", table_name="invitation")
    op.drop_table("invitation")
    op.drop_index("ix_user_account_tenant_id", table_name="user_account")
    op.drop_table("user_account")
    conn = op.get_bind()
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("api_key_hash", sa.String(length=64), nullable=True))
    # The oldest live read+write key of each tenant becomes its single key again.
    conn.execute(
        sa.text(
            "UPDATE tenant SET api_key_hash = (SELECT key_hash FROM api_key WHERE api_key.tenant_id = tenant.id "
            "AND revoked_at IS NULL ORDER BY id LIMIT 1)"
        )
    )
    op.drop_index("ix_api_key_tenant_id", table_name="api_key")
    op.drop_table("api_key")
    with op.batch_alter_table("enrollment_code") as batch:
        batch.drop_constraint("fk_enrollment_code_for_register_id_register", type_="foreignkey")
        batch.drop_column("for_register_id")
    with op.batch_alter_table("register") as batch:
        batch.drop_column("revoked_at")
        batch.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
    conn.execute(
        sa.text(
            "UPDATE register SET token_hash = (SELECT token_hash FROM register_token t WHERE t.register_id = "
            "register.id AND t.revoked_at IS NULL ORDER BY t.id DESC LIMIT 1)"
        )
    )
    op.drop_index("ix_register_token_register_id", table_name="register_token")
    op.drop_table("register_token")
    with op.batch_alter_table("store") as batch:
        batch.drop_column("region")
