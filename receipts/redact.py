"""Personal data never reaches a log: phones and e-mails inside free text are masked.

Callers mask what they know is a contact (`BuyerContact.masked`); this filter is the safety net for
everything else (exception texts, request bodies echoed in errors, third-party messages, request lines).

It runs on every log record, so it must cost time linear in what is logged and what is logged is bounded:
- each string is cut to `MAX_LOGGED_CHARS` before masking (a margin is masked too, so a contact straddling
  the cut is masked whole, then the margin goes);
- no pattern can backtrack over a long run: separators between phone digits are bounded, and an e-mail's
  local part starts only where a run of address characters starts, possessively (the old patterns were
  quadratic: one 100 kB URL held the cloud for 13-19 s, and 40 x 1 MB heartbeat strings for 11 minutes).
`benchmarks/bench_redact.py` measures 1 MB of hostile input.
"""

import logging
import re

MAX_LOGGED_CHARS = 4000  # per string: enough for a traceback line or a URL, not for a body
_MARGIN = 320  # as long as the longest contact we keep (an e-mail)
_CUT_MARK = "…[cut]"

# A Russian phone in any common spelling, not inside a longer digit run (FN serials have 16 digits).
# Separators are bounded ({0,3}): a run of blanks is crossed in constant time from each position.
_PHONE = re.compile(
    r"(?<![\d\w:])(?:\+7|8|7)?[\s(-]{0,3}9\d{2}[\s)-]{0,3}\d{3}[\s-]{0,2}(\d{2})[\s-]{0,2}(\d{2})(?!\d)"
)
_INTL = re.compile(r"(?<![\d\w])\+\d[\d\s()-]{8,16}(\d{2})[\s-]?(\d{2})(?!\d)")
# Local part: only from the start of a run (the lookbehind), taken possessively: each run is read once.
# Domain: dot-separated labels with no character shared between label and separator: no ambiguity.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*+@([A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++)"
)


def redact(text: str, limit: int | None = MAX_LOGGED_CHARS) -> str:
    """`text` with contacts masked, cut to `limit` characters (None: whole, for short known texts)."""
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[: limit + _MARGIN]  # type: ignore[operator]
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _INTL.sub(r"+* *** ***-\1-\2", text)
    text = _PHONE.sub(r"+7 *** ***-\1-\2", text)
    return text[:limit] + _CUT_MARK if cut else text


class RedactingFilter(logging.Filter):
    """Masks contacts in the message and in string extras of every record that passes, and bounds them."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        for key, value in list(record.__dict__.items()):
            if key not in self._STANDARD:
                setattr(record, key, _redact_value(value))
        return True


def _redact_value(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict) and depth < 3:
        return {k: _redact_value(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, (list, tuple)) and depth < 3:
        return [_redact_value(v, depth + 1) for v in value[:100]]
    return value
