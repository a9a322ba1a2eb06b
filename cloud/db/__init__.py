"""The cloud database: models, engine, migrations."""

from cloud.db.engine import DATABASE_URL_ENV, default_database_url, make_engine, normalize_url
from cloud.db.migrate import current_revision, migrate

__all__ = [
    "DATABASE_URL_ENV",
    "current_revision",
    "default_database_url",
    "make_engine",
    "migrate",
    "normalize_url",
]
