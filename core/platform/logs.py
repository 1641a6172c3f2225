"""Structured logging: one configuration for every process.

Every line carries the context bound with structlog's contextvars: request_id and
tenant_id (set by middleware per request), task_id and event_id (set by the task base
class). Lines from the standard library (Django, Celery, psycopg) go through the same
processors, so they carry that context too.
"""

from __future__ import annotations

import logging.config
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(fmt: str, level: str) -> None:
    """Configure structlog and the standard library; fmt is "json" or "console"."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]
    if fmt == "json":
        final.insert(1, structlog.processors.format_exc_info)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "ferry": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": final,
                    "foreign_pre_chain": _SHARED,
                }
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "ferry"}},
            "root": {"handlers": ["stderr"], "level": level},
            "loggers": {
                # Access lines come from uvicorn itself; keep Django's own request logger for errors.
                "django.server": {"level": "WARNING"},
                "celery.redirected": {"level": "WARNING"},
                # One line per HTTP request made by the chaos run's load would drown its report.
                "httpx": {"level": "WARNING"},
            },
        }
    )
