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
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Rebuilding a table on SQLite (batch mode) drops the old one: with foreign keys enforced
                # that would fail on every row referring to it. They are off for the migration only (the
                # pragma is ignored inside a transaction, hence before it), and checked afterwards.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    command.upgrade(alembic_config(conn), "head")
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                        raise RuntimeError("the migration left rows whose foreign keys point nowhere")
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    finally:
        if own:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
