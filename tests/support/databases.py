"""Fresh cloud databases for tests: shared with the benchmarks (`benchmarks.support.databases`)."""

from benchmarks.support.databases import PG_ENV, backends, fresh_database, postgres_admin_url

__all__ = ["PG_ENV", "backends", "fresh_database", "postgres_admin_url"]
