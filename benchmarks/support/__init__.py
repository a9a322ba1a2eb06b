"""The harness the benchmarks run on, and the tests too: an ASGI app served on loopback, a fresh cloud
database (SQLite, or PostgreSQL from ECHECK_TEST_DATABASE_URL), a pty pair standing in for a COM port, a
cashier that answers every prompt, and the POS's close request. It lives here because the benchmarks never
import `tests` (tests may import anything); `tests/support` re-exports what the tests use."""
