"""Backoff timing: exponential ceiling with a cap, full jitter, Retry-After as a floor."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sync.backoff import MAX_RETRY_AFTER_S, Backoff, parse_retry_after


def test_ceiling_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    assert [backoff.ceiling(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.ceiling(10_000) == 30.0  # no overflow after days offline


def test_full_jitter_spreads_delays_between_zero_and_the_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(7))
    delays = [backoff.delay(6) for _ in range(500)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    assert min(delays) < 2.0
    assert max(delays) > 14.0


def test_retry_after_is_a_floor_and_is_clamped() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))
    assert all(backoff.delay(1, retry_after=7.0) == 7.0 for _ in range(50))
    assert backoff.delay(1, retry_after=10 * MAX_RETRY_AFTER_S) == MAX_RETRY_AFTER_S
    assert 0.0 <= backoff.delay(3, retry_after=0.0) <= 2.0


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
