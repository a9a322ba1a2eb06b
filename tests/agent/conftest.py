"""The real cloud on loopback with an enrolled store, as the sync tests use it (doctor and status need it)."""

from tests.sync.conftest import cloud  # noqa: F401 - a fixture, used by name
