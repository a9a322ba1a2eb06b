import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import backends, fresh_database

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty cloud database: SQLite always, PostgreSQL too when ECHECK_TEST_DATABASE_URL is set."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs a CLI in-process (`echeck-agent status`, `echeck-cloud ...`) configures the root
    logger for its captured stderr; later tests' threads would then log into that closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
