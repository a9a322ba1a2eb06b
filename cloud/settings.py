"""Cloud settings: flags win over environment variables, which win over embedded defaults."""

import os
from dataclasses import dataclass, field

from cloud.db.engine import DATABASE_URL_ENV, default_database_url

LOG_LEVEL_ENV = "ECHECK_LOG_LEVEL"
LOG_FORMAT_ENV = "ECHECK_LOG_FORMAT"
PUBLIC_URL_ENV = "ECHECK_PUBLIC_URL"  # where buyers open e-receipts: {public_url}/r/{token}
DELIVERY_WORKER_ENV = "ECHECK_DELIVERY_WORKER"  # "1": run a delivery worker inside the app process
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_ENROLL_TTL_HOURS = 72
READ_PAGE_MAX = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    log_level: str = field(default_factory=lambda: os.environ.get(LOG_LEVEL_ENV, "info"))
    log_format: str = field(default_factory=lambda: os.environ.get(LOG_FORMAT_ENV, "kv"))
    public_url: str = field(default_factory=lambda: os.environ.get(PUBLIC_URL_ENV, DEFAULT_PUBLIC_URL))
    delivery_worker: bool = field(default_factory=lambda: os.environ.get(DELIVERY_WORKER_ENV) == "1")


def load_settings(database_url: str | None = None) -> Settings:
    return Settings(database_url=database_url) if database_url else Settings()


__all__ = ["DATABASE_URL_ENV", "DEFAULT_ENROLL_TTL_HOURS", "READ_PAGE_MAX", "Settings", "load_settings"]
