"""Cloud database URLs for tests: a fresh SQLite file always, a fresh PostgreSQL database when
ECHECK_TEST_DATABASE_URL points at a server (it must allow CREATE DATABASE)."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PG_ENV = "ECHECK_TEST_DATABASE_URL"


def postgres_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    )


def backends() -> list[str]:
    return ["sqlite", "postgres"] if postgres_admin_url() else ["sqlite"]


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yields a SQLAlchemy URL of an empty database that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    admin_url = postgres_admin_url()
    assert admin_url, f"{PG_ENV} is not set"
    name = f"echeck_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
