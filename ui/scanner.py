"""Telling a barcode scanner from the cashier by the keys' timing, as values: no Qt here.

A keyboard-wedge scanner types a barcode's digits a few milliseconds apart (≤ 30 ms a key) and ends with
Enter; nobody types six digits and Enter that fast by hand. The popup only has the keyboard after the
cashier's F12 or touch, but a scan at that moment must still not become the buyer's phone: the popup undoes
the burst and hands it to the POS (`ui.handback`).
"""

from dataclasses import dataclass

SCANNER_GAP_MS = 30  # at most this between two keys of a scan (and between the last digit and Enter)
MIN_SCAN_DIGITS = 6  # shorter bursts are a cashier's fast fingers (EAN-8, the shortest retail code, has 8)


@dataclass
class BurstDetector:
    """Fed every key the popup gets, with the key event's time in ms (0 = unknown: never a scan)."""

    digits: str = ""  # the burst so far
    _last_ms: int = 0  # the time of its last digit

    def digit(self, text: str, at_ms: int) -> bool:
        """A digit; True when it starts a new burst (the popup remembers its state before it)."""
        fast = at_ms > 0 and self._last_ms > 0 and at_ms - self._last_ms <= SCANNER_GAP_MS
        self.digits = self.digits + text if fast and self.digits else text
        self._last_ms = at_ms
        return len(self.digits) == 1

    def other(self) -> None:
        """Any key but a digit or Enter ends a burst."""
        self.digits, self._last_ms = "", 0

    def enter(self, at_ms: int) -> str | None:
        """Enter: the scanned digits when it ends a scanner-speed burst, else None (the cashier's Enter)."""
        scan = self.digits
        fast = at_ms > 0 and self._last_ms > 0 and at_ms - self._last_ms <= SCANNER_GAP_MS
        self.other()
        return scan if fast and len(scan) >= MIN_SCAN_DIGITS else None
