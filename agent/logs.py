"""Logs for store IT: one JSON object a line for machines, plain sentences on a terminal; contacts masked.

`format="auto"` writes sentences when stderr is a terminal (store IT typing a command) and JSON lines
otherwise (the service manager's journal, a log collector). A log file is always JSON.
"""

import logging
import sys
from pathlib import Path

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from receipts.redact import RedactingFilter

FORMATS = ("auto", "text", "json")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class TerminalFormatter(logging.Formatter):
    """`echeck-agent: warning: <message> (key=value, ...)`: one readable line a record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        extras = [f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and v is not None]
        line = f"{self.service}: {record.levelname.lower()}: {record.getMessage()}"
        if extras:
            line += f" ({', '.join(extras)})"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def json_formatter(service: str) -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI-coloured duplicate of the message
    )


def setup_logging(
    level: str = "INFO", file: Path | None = None, service: str = "echeck-agent", style: str = "auto"
) -> None:
    human = style == "text" or (style == "auto" and sys.stderr.isatty())
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(TerminalFormatter(service) if human else json_formatter(service))
    handlers: list[logging.Handler] = [console]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
        handlers[-1].setFormatter(json_formatter(service))
    root = logging.getLogger()
    root.handlers.clear()
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
