"""Structured logs for the cloud: one line per event, `key=value` (default) or JSON lines.

Call sites pass facts as `extra={"fields": {...}}` (see `event`). Contacts are logged only masked
(`BuyerContact.masked`); tokens, api keys and enrollment codes are never logged.
"""

import json
import logging
import logging.config
import re
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


# Secrets that travel in URLs and so reach the access log: SMS.ru's callback path token (SMS.ru can only call
# a URL), and any credential someone put in a query string. Literal prefixes: linear time like `redact`.
_SECRET_PATH = re.compile(r"(/v1/delivery/callbacks/[^/\s]{1,20}/sms/)[^/\s?#\"]+")
_SECRET_QUERY = re.compile(r"([?&](?:secret|token|api_key|api_id|password)=)[^&\s#\"]+", re.IGNORECASE)


def mask_url_secrets(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1***", _SECRET_PATH.sub(r"\1***", text))


class UrlSecretFilter(logging.Filter):
    """Masks URL-borne secrets in the message and string extras; runs after `RedactingFilter`, which has
    already merged the arguments into the message and bounded every string."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_url_secrets(str(record.msg))
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: mask_url_secrets(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


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
        "filters": {
            "redact": {"()": "receipts.redact.RedactingFilter"},
            "url_secrets": {"()": f"{UrlSecretFilter.__module__}.{UrlSecretFilter.__qualname__}"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "echeck",
                "filters": ["redact", "url_secrets"],
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
