"""Cloud settings: flags win over environment variables, which win over embedded defaults."""

import os
from dataclasses import dataclass, field

from cloud.db.engine import DATABASE_URL_ENV, default_database_url

LOG_LEVEL_ENV = "ECHECK_LOG_LEVEL"
LOG_FORMAT_ENV = "ECHECK_LOG_FORMAT"
PUBLIC_URL_ENV = "ECHECK_PUBLIC_URL"  # where buyers open e-receipts: {public_url}/r/{token}
DB_POOL_ENV = "ECHECK_DB_POOL"  # request threads (and kept database connections) per app process
DEFAULT_DB_POOL = 16
JOB_WORKER_ENV = "ECHECK_JOB_WORKER"  # "1": run the job worker inside the app process
DELIVERY_WORKER_ENV = "ECHECK_DELIVERY_WORKER"  # the old name of JOB_WORKER_ENV, still read
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_ENROLL_TTL_HOURS = 72
READ_PAGE_MAX = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    log_level: str = field(default_factory=lambda: os.environ.get(LOG_LEVEL_ENV, "info"))
    log_format: str = field(default_factory=lambda: os.environ.get(LOG_FORMAT_ENV, "kv"))
    public_url: str = field(default_factory=lambda: os.environ.get(PUBLIC_URL_ENV, DEFAULT_PUBLIC_URL))
    # Each app process serves at most this many requests at once (FastAPI's thread pool) and keeps as
    # many database connections open: requests beyond it queue in the process instead of opening and
    # closing PostgreSQL sessions per request. Workers × (pool + 4) must stay under max_connections.
    db_pool: int = field(default_factory=lambda: int(os.environ.get(DB_POOL_ENV, DEFAULT_DB_POOL)))
    job_worker: bool = field(default_factory=lambda: _job_worker_env() == "1")


def _job_worker_env() -> str | None:
    return os.environ.get(JOB_WORKER_ENV, os.environ.get(DELIVERY_WORKER_ENV))


def load_settings(database_url: str | None = None) -> Settings:
    return Settings(database_url=database_url) if database_url else Settings()


__all__ = [
    "DATABASE_URL_ENV",
    "DB_POOL_ENV",
    "DEFAULT_ENROLL_TTL_HOURS",
    "JOB_WORKER_ENV",
    "READ_PAGE_MAX",
    "Settings",
    "load_settings",
]
