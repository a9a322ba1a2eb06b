"""Log masking on hostile input: 1 MB strings that made the old patterns quadratic (issue 12).

Every log record passes `receipts.redact`; what it costs must grow linearly with the input, and what is
logged is cut to `MAX_LOGGED_CHARS` first. The figures mask 1 MB whole (`limit=None`, the patterns' own
bound) and as the log filter does (cut first).
"""

import logging
import time
from collections.abc import Callable

from benchmarks import Figure
from receipts.redact import MAX_LOGGED_CHARS, RedactingFilter, redact

MB = 1024 * 1024
TARGET_MS = 1000.0  # 1 MB whole (~0.25 s on an idle core); the old patterns took 13-19 s on 100 kB
LINEAR = 2.5  # masking 2 MB may cost at most this many times 1 MB (quadratic would be 4)


def hostile_inputs() -> dict[str, str]:
    """Shapes that made backtracking patterns quadratic: long runs that almost match."""
    return {
        "URL-like run of letters and dots": ("a.b-c_d%e+" * (MB // 10))[:MB],
        "run of blanks and dashes": (" -(" * (MB // 3 + 1))[:MB],
        "digits and blanks": ("916 123 4 " * (MB // 10 + 1))[:MB],
        "at-signs between letters": ("a@b" * (MB // 3 + 1))[:MB],
        "contacts every 40 chars": ("call 8 (916) 123-45-67 or x@mail.ru ok " * (MB // 40 + 1))[:MB],
    }


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run(quick: bool) -> list[Figure]:
    repeat = 1 if quick else 3
    figures: list[Figure] = []
    worst = 0.0
    for name, text in hostile_inputs().items():
        ms = _best_ms(lambda text=text: redact(text, limit=None), repeat)  # type: ignore[misc]
        worst = max(worst, ms)
        figures.append(Figure("logs", f"mask 1 MB whole: {name}", ms, "ms"))
    figures.append(
        Figure(
            "logs", "mask 1 MB whole: worst shape", worst, "ms", f"≤ {TARGET_MS:.0f} ms", worst <= TARGET_MS
        ),
    )
    blanks = hostile_inputs()["run of blanks and dashes"]
    one = _best_ms(lambda: redact(blanks, limit=None), repeat)
    two = _best_ms(lambda: redact(blanks + blanks, limit=None), repeat)
    figures.append(
        Figure(
            "logs",
            "mask 2 MB / mask 1 MB (linear ≈ 2, quadratic ≈ 4)",
            two / one,
            "×",
            f"≤ {LINEAR}",
            two / one <= LINEAR,
        )
    )
    record = logging.LogRecord("cloud", logging.INFO, __file__, 1, "heartbeat", None, None)
    strings = {f"s{i}": hostile_inputs()["run of blanks and dashes"] for i in range(40)}

    def filter_heartbeat() -> None:
        record.fields = dict(strings)
        RedactingFilter().filter(record)

    ms = _best_ms(filter_heartbeat, repeat)
    figures.append(
        Figure(
            "logs",
            f"log filter: a record with 40 × 1 MB strings (cut to {MAX_LOGGED_CHARS} chars each)",
            ms,
            "ms",
            "≤ 50 ms",
            ms <= 50,
        )
    )
    return figures
