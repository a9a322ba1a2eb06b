"""Structured logs for the cloud: one line per event, `key=value` (default) or JSON lines.

Call sites pass facts as `extra={"fields": {...}}` (see `event`). Contacts are logged only masked
(`BuyerContact.masked`); tokens, api keys and enrollment codes are never logged.
"""

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

_FORMAT_ENV_VALUES = ("kv", "json")


def event(logger: logging.Logger, level: int, name: str, /, **fields: Any) -> None:
    """Log `name` with structured fields: `event(log, INFO, "batch.ingested", stored=3)`."""
    logger.log(level, name, extra={"fields": fields}, stacklevel=2)


def _kv_value(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"logger={record.name}"]
        parts.append(f"event={_kv_value(record.getMessage())}")
        parts += [f"{k}={_kv_value(v)}" for k, v in getattr(record, "fields", {}).items()]
        if record.exc_info:
            parts.append(f"exc={_kv_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


def logging_config(level: str = "info", fmt: str = "kv") -> dict[str, Any]:
    """A `logging.config.dictConfig` document; uvicorn applies it in every worker process too."""
    if fmt not in _FORMAT_ENV_VALUES:
        raise ValueError(f"log format must be one of {', '.join(_FORMAT_ENV_VALUES)}")
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger", "message": "event"},
        }
        if fmt == "json"
        else {"()": f"{KeyValueFormatter.__module__}.{KeyValueFormatter.__qualname__}"}
    )
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"echeck": formatter},
        # The safety net: whatever a call site forgot to mask is masked here.
        "filters": {"redact": {"()": "receipts.redact.RedactingFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "echeck",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: logger for name in ("cloud", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
        },
    }


def configure_logging(level: str = "info", fmt: str = "kv") -> None:
    """Send the `cloud` loggers (and uvicorn's and alembic's) to stderr in the chosen format."""
    logging.config.dictConfig(logging_config(level, fmt))
