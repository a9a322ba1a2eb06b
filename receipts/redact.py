"""Personal data never reaches a log: phones and e-mails inside free text are masked.

Callers mask what they know is a contact (`BuyerContact.masked`); this filter is the safety net for
everything else (exception texts, request bodies echoed in errors, third-party messages).
"""

import logging
import re

# A Russian phone in any common spelling, not inside a longer digit run (FN serials have 16 digits).
_PHONE = re.compile(r"(?<![\d\w:])(?:\+7|8|7)?[\s(-]*9\d{2}[\s)-]*\d{3}[\s-]*(\d{2})[\s-]*(\d{2})(?!\d)")
_INTL = re.compile(r"(?<![\d\w])\+\d[\d\s()-]{8,16}(\d{2})[\s-]?(\d{2})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def redact(text: str) -> str:
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _INTL.sub(r"+* *** ***-\1-\2", text)
    return _PHONE.sub(r"+7 *** ***-\1-\2", text)


class RedactingFilter(logging.Filter):
    """Masks contacts in the message and in string extras of every record that passes."""

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


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value
