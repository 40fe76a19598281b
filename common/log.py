"""Structured logs: one JSON object per line, with the ids of what is being worked on.

`log_context(task_id=..., image_id=..., request_id=...)` binds ids for the code it wraps
(contextvars, so concurrent asyncio tasks keep their own); every record logged inside
carries them.
"""

import contextlib
import json
import logging
import logging.config
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("pixelmill_log_context", default={})  # noqa: B039 - never mutated, only replaced


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    return _CONTEXT.get()


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **_CONTEXT.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(service: str, level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["stdout"]},
        # Per-request access lines would double the volume; requests are metrics instead.
        "loggers": {"uvicorn.access": {"level": "WARNING"}},
    }


def configure_logging(service: str, level: str) -> None:
    logging.config.dictConfig(logging_config(service, level))
