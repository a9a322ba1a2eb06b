"""Serve an ASGI app on loopback for a test: shared with the benchmarks (`benchmarks.support.serving`)."""

from benchmarks.support.serving import free_port, live_server

__all__ = ["free_port", "live_server"]
