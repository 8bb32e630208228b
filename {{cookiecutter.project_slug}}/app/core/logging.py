"""Logging: JSON lines in production, readable lines elsewhere, each tagged with the request id.

`configure_logging` runs in the application lifespan, never at import time, so importing the
package (in tests, Alembic or a shell) leaves the host's logging alone.
"""

import json
import logging
import logging.config
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Characters that end or break a line somewhere: C0 and C1 controls, DEL, and the Unicode line
# and paragraph separators. Escaped in every log line, so that text a client sent (a path, a
# header) can never forge a line of its own.
_CONTROLS = (*range(0x20), *range(0x7F, 0xA0))
_SEPARATORS = (0x2028, 0x2029)
_TEXT_ESCAPES = {code: f"\\x{code:02x}" for code in _CONTROLS} | {
    code: f"\\u{code:04x}" for code in _SEPARATORS
}
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*_CONTROLS, *_SEPARATORS)}

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "request_id"}


class EpisodeLog:
    """Logs a run of like failures (an outage, a burst) as a few lines instead of one per
    request: the first at once, then at most one every `interval` seconds, with a count."""

    def __init__(self, logger: logging.Logger, level: int, interval: float = 10.0) -> None:
        self._logger = logger
        self._level = level
        self._interval = interval
        self._last: float | None = None
        self._unreported = 0

    def record(self, message: str, *args: object) -> None:
        self._unreported += 1
        now = time.monotonic()
        if self._last is not None and now - self._last < self._interval:
            return
        self._logger.log(
            self._level, message + " (%d times since the last report)", *args, self._unreported
        )
        self._last = now
        self._unreported = 0


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """Readable lines; the message is escaped, tracebacks below it are left as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return super().formatMessage(record).translate(_TEXT_ESCAPES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any `extra=` fields kept as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        payload.update(
            (key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES
        )
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        # JSON escapes C0 controls itself; the rest of the unsafe set would pass through raw.
        return json.dumps(payload, default=str, ensure_ascii=False).translate(_JSON_ESCAPES)


def configure_logging(level: str, *, json_lines: bool) -> None:
    """Route the root logger, uvicorn's loggers included, through one handler."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if json_lines
        else {
            "()": TextFormatter,
            "format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s",
        }
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": RequestIdFilter}},
            "formatters": {"default": formatter},
            "handlers": {
                "default": {
                    "class": "logging.StreamHandler",
                    "formatter": "default",
                    "filters": ["request_id"],
                },
            },
            "root": {"level": level, "handlers": ["default"]},
            "loggers": {
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                # The access middleware logs every request with its id and duration.
                "uvicorn.access": {"handlers": [], "propagate": False},
            },
        }
    )
