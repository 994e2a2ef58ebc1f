"""Structured JSON logs (structlog + django-structlog) that never carry a password or token
(the rules: servicekit.web.redaction)."""

from __future__ import annotations

from typing import Any

import structlog

from servicekit.web.redaction import REDACTED, is_sensitive_key, redact, redact_text

__all__ = ["REDACTED", "logging_config", "redact_secrets", "redact_text"]
_SAFE_KEYS = {"event", "level", "logger", "timestamp", "request_id", "correlation_id", "task_id"}


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop values under sensitive keys, mask bearer tokens and JWTs."""
    for key, value in list(event_dict.items()):
        if key not in _SAFE_KEYS and is_sensitive_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(value)
    return event_dict


def logging_config(*, service_name: str, level: str = "INFO", json: bool = True) -> dict:
    """A `LOGGING` dict for a service: every record, stdlib or structlog, leaves as one JSON line."""
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
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
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
