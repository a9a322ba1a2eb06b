"""Alembic environment, configured in code: `cloud.db.migrate(url)` passes an open connection in
`config.attributes["connection"]`; the `alembic` command line is not needed at runtime."""

from alembic import context

from cloud.db.tables import all_tables

metadata = all_tables()

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for developers running `alembic` by hand
    raise RuntimeError("run migrations with `echeck-cloud migrate` (cloud.db.migrate), not bare alembic")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: batch mode rebuilds the table; a no-op on PostgreSQL.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
