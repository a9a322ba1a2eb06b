"""Test support for drivers: shared with the benchmarks (`benchmarks.support.drivers`)."""

from benchmarks.support.drivers import PtyPair, cashier

__all__ = ["PtyPair", "cashier"]
