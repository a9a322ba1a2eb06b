"""Run the Alembic migrations programmatically (no alembic.ini at runtime)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from cloud.db.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(url: str | None = None, engine: Engine | None = None) -> None:
    """`alembic upgrade head` on the database at `url` (or the default database). Safe to run every start."""
    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                _upgrade_sqlite(conn)
            else:
                with conn.begin():
                    command.upgrade(alembic_config(conn), "head")
    finally:
        if own:
            engine.dispose()


def _upgrade_sqlite(conn: Connection) -> None:
    # SQLite rebuilds a table to drop a column or a constraint (Alembic's batch mode); with foreign keys
    # on, dropping the old copy of a table other rows point at fails. They are off for the migration
    # (outside a transaction, where SQLite honours the pragma), every reference is checked before the
    # commit, and they are on again before the connection goes back to the pool.
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    try:
        with conn.begin():
            command.upgrade(alembic_config(conn), "head")
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    finally:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
