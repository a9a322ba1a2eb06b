"""Receipts keyed by tenant too; the QR landing token as an indexed column; provider credentials encrypted.

- `receipt`: unique (tenant_id, fn_serial, fd_number, fpd) instead of (fn_serial, fd_number, fpd): another
  retailer's register posting this tenant's key first can no longer block or reveal its receipt.
- `receipt.landing` + index (register_id, landing): the popup's QR landing is one index lookup instead of a
  scan of two days of a register's receipts. Filled from `payload.extra.landing` for the last two days
  (older receipts are outside the landing's window anyway).
- `delivery_channel.settings`: every credential encrypted with the cloud's key (`cloud.secret_key`).
- `delivery_report_seen`: provider callback events remembered for a while, so a replay applies nothing.

Revision ID: 0007_tenant_keys_landing_sealed
Revises: 0006_accounts
Create Date: 2026-11-30

Written to match cloud/ingest/models.py (ReceiptRow) and cloud/delivery/models.py (ReportSeen); tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from cloud import secret_key

revision: str = "0007_tenant_keys_landing_sealed"
down_revision: str | None = "0006_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "uq_receipt_fn_serial_fd_number_fpd"
NEW_KEY = "uq_receipt_tenant_id_fn_serial_fd_number_fpd"
LANDING_INDEX = "ix_receipt_register_id_landing"
# As they were when this migration was written (cloud/delivery/channels/registry.py may grow later).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SECRET_FIELDS = ("password", "access_token", "auth_token", "api_id", "callback_secret", "webhook_secret")


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("receipt") as batch:
        batch.drop_constraint(OLD_KEY, type_="unique")
        batch.create_unique_constraint(NEW_KEY, ["tenant_id", "fn_serial", "fd_number", "fpd"])
        batch.add_column(sa.Column("landing", sa.String(length=32), nullable=True))
    op.create_index(LANDING_INDEX, "receipt", ["register_id", "landing"])
    since = datetime.now(UTC) - timedelta(days=2)
    if bind.dialect.name == "postgresql":
        landing = "payload -> 'extra' ->> 'landing'"
        since_param: object = since
    else:
        landing = "json_extract(payload, '$.extra.landing')"
        since_param = since.replace(tzinfo=None).isoformat(sep=" ")
    op.execute(
        sa.text(
            f"UPDATE receipt SET landing = {landing} WHERE received_at >= :since "
            f"AND length({landing}) BETWEEN 1 AND 32"
        ).bindparams(since=since_param)
    )
    _rewrite_credentials(
        bind, lambda box, v: secret_key.encrypt(box, v) if not secret_key.is_encrypted(v) else v
    )
    op.create_table(
        "delivery_report_seen",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name="fk_delivery_report_seen_tenant_id_tenant"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_report_seen"),
        sa.UniqueConstraint(
            "tenant_id", "channel", "event_key", name="uq_delivery_report_seen_tenant_id_channel_event_key"
        ),
    )
    op.create_index("ix_delivery_report_seen_seen_at", "delivery_report_seen", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_report_seen_seen_at", table_name="delivery_report_seen")
    op.drop_table("delivery_report_seen")
    bind = op.get_bind()
    _rewrite_credentials(bind, secret_key.decrypt)
    op.drop_index(LANDING_INDEX, table_name="receipt")
    with op.batch_alter_table("receipt") as batch:
        batch.drop_column("landing")
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.create_unique_constraint(OLD_KEY, ["fn_serial", "fd_number", "fpd"])


def _rewrite_credentials(bind: sa.Connection, change: object) -> None:
    table = sa.table("delivery_channel", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
    rows = bind.execute(sa.select(table.c.id, table.c.settings)).all()
    if not rows:
        return  # a fresh database needs no key yet
    box = secret_key.box_for(bind.engine.url)
    for row_id, settings in rows:
        new = {
            k: change(box, v) if k in SECRET_FIELDS and isinstance(v, str) and v else v  # type: ignore[operator]
            for k, v in dict(settings).items()
        }
        bind.execute(sa.update(table).where(table.c.id == row_id).values(settings=new))
