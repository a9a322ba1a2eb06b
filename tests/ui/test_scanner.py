"""Telling a keyboard-wedge scan (digits ≤ 30 ms apart, then Enter) from the cashier's typing."""

from ui.scanner import MIN_SCAN_DIGITS, SCANNER_GAP_MS, BurstDetector


def feed(detector: BurstDetector, digits: str, start_ms: int, gap_ms: int) -> int:
    at = start_ms
    for d in digits:
        detector.digit(d, at)
        at += gap_ms
    return at - gap_ms


def test_a_scan_is_digits_at_scanner_speed_then_enter() -> None:
    detector = BurstDetector()
    last = feed(detector, "4607001234567", 1000, 8)
    assert detector.enter(last + 8) == "4607001234567"
    assert detector.digits == ""


def test_a_cashier_typing_is_not_a_scan() -> None:
    detector = BurstDetector()
    last = feed(detector, "89161234567", 1000, 90)
    assert detector.enter(last + 120) is None


def test_the_limits() -> None:
    detector = BurstDetector()
    last = feed(detector, "1" * MIN_SCAN_DIGITS, 1000, SCANNER_GAP_MS)
    assert detector.enter(last + SCANNER_GAP_MS) == "1" * MIN_SCAN_DIGITS
    last = feed(detector, "1" * (MIN_SCAN_DIGITS - 1), 5000, 5)
    assert detector.enter(last + 5) is None  # too short: fast fingers
    last = feed(detector, "12345678", 9000, 5)
    assert detector.enter(last + SCANNER_GAP_MS + 1) is None  # a pause before Enter: the cashier's Enter


def test_a_slow_digit_starts_a_new_burst_and_other_keys_end_it() -> None:
    detector = BurstDetector()
    assert detector.digit("9", 1000) is True
    assert detector.digit("1", 1200) is True  # slow: a new burst starts here
    assert detector.digit("6", 1210) is False
    detector.other()
    assert detector.digits == ""


def test_events_without_a_time_are_never_a_scan() -> None:
    detector = BurstDetector()  # synthesised key events (tests, accessibility tools) carry time 0
    feed(detector, "4607001234567", 0, 0)
    assert detector.enter(0) is None
