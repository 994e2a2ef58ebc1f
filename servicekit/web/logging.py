"""Structured logs (structlog + django-structlog) that never carry a password or token (the
rules: servicekit.web.redaction): one JSON object a line for machines, or coloured readable lines
for a person watching a terminal (`LOG_FORMAT`, chosen by `log_format`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

from servicekit.web.redaction import REDACTED, is_sensitive_key, redact, redact_text

__all__ = [
    "LOG_FORMATS",
    "REDACTED",
    "log_colors",
    "log_format",
    "logging_config",
    "redact_secrets",
    "redact_text",
]
LOG_FORMATS = ("json", "console")
# Where a person may be watching: the environments that are never production.
_PERSON_ENVS = ("local", "dev", "development")
_TRUE = ("1", "true", "yes", "on")
_SAFE_KEYS = {"event", "level", "logger", "timestamp", "request_id", "correlation_id", "task_id"}


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop values under sensitive keys, mask bearer tokens and JWTs."""
    for key, value in list(event_dict.items()):
        if key not in _SAFE_KEYS and is_sensitive_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(value)
    return event_dict


def log_format(*, environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> str:
    """`LOG_FORMAT` (json | console) when set; else `LOG_JSON` (true: json) when set; else
    console only where a person watches: DJANGO_ENV local (the default) or dev, and the log
    stream (stderr) a terminal. Production, tests and every pipe or file get JSON."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("LOG_FORMAT", "").strip().lower()
    if chosen:
        if chosen not in LOG_FORMATS:
            raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}")
        return chosen
    if environ.get("LOG_JSON", "").strip():
        return "json" if environ["LOG_JSON"].strip().lower() in _TRUE else "console"
    stream = sys.stderr if stream is None else stream
    person = environ.get("DJANGO_ENV", "local").strip().lower() in _PERSON_ENVS
    return "console" if person and stream.isatty() else "json"


def log_colors(*, environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """Colour console lines: `LOG_COLORS` when set (`make run` sets it when its own output is a
    terminal: the processes it supervises write to a pipe), else when the stream is a terminal."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("LOG_COLORS", "").strip().lower()
    if chosen:
        return chosen in _TRUE
    return (sys.stderr if stream is None else stream).isatty()


def logging_config(
    *, service_name: str, level: str = "INFO", format: str = "json", colors: bool = False
) -> dict:
    """A `LOGGING` dict for a service: every record, stdlib or structlog, leaves as one JSON line
    (`format="json"`) or as one readable line (`"console"`, coloured with `colors`)."""
    if format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {format!r}")
    # No line carries the caller's file, line or function (the renderers print the event dict,
    # not those attributes of the record), so records skip the stack walk that finds them: ~10
    # of a line's ~80 µs (the logging HOWTO's "Optimization" table names this switch).
    logging._srcfile = None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    add_service = _service_adder(service_name)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    add_service,
                    redact_secrets,
                    renderer,
                ],
                "foreign_pre_chain": [
                    structlog.contextvars.merge_contextvars,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.stdlib.add_logger_name,
                    structlog.stdlib.add_log_level,
                ],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            "django_structlog": {"level": level},
        },
    }


def _service_adder(service_name: str):
    def add_service(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service_name)
        return event_dict

    return add_service
