"""Structured logs (structlog + django-structlog) that never carry a password or token (the
rules: servicekit.web.redaction): one JSON object a line for machines, or coloured readable lines
for a person watching a terminal (`LOG_FORMAT`, chosen by `log_format`)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

from servicekit.web.redaction import REDACTED, is_sensitive_key, redact, redact_text

__all__ = [
    "LOG_FORMATS",
    "REDACTED",
    "BatchedStreamHandler",
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
    verdicts = _KEY_VERDICTS
    for key, value in event_dict.items():  # (values replaced in place: the keys stay as they are)
        sensitive = verdicts.get(key)
        if sensitive is None:
            sensitive = key not in _SAFE_KEYS and is_sensitive_key(key)
            if len(verdicts) < _KEY_VERDICTS_MAX:
                verdicts[key] = sensitive
        if sensitive:
            event_dict[key] = REDACTED
        elif type(value) is str:
            event_dict[key] = redact_text(value)
        elif not isinstance(value, _PLAIN):
            event_dict[key] = redact(value)
    return event_dict


# Every line asks about the same few dozen keys: the verdict per key, kept (a log line's keys
# are the code's own names, not request data, so the set stays small; bounded all the same).
_KEY_VERDICTS: dict[Any, bool] = {}
_KEY_VERDICTS_MAX = 4096
_PLAIN = (int, float, type(None))  # (bool is an int) nothing in them to mask


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
    *,
    service_name: str,
    level: str = "INFO",
    format: str = "json",
    colors: bool = False,
    batched: Mapping[str, float] | None = None,
) -> dict:
    """A `LOGGING` dict for a service: every record, stdlib or structlog, leaves as one JSON line
    (`format="json"`) or as one readable line (`"console"`, coloured with `colors`).

    `batched`: logger name -> seconds; that logger's lines go to the same stream in batches
    written at most that many seconds apart (`BatchedStreamHandler`; 0: each line at once)."""
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
    handlers: dict[str, dict[str, Any]] = {
        "console": {"class": "logging.StreamHandler", "formatter": "structured"}
    }
    loggers: dict[str, dict[str, Any]] = {
        "django.server": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        "django_structlog": {"level": level},
    }
    for name, interval in (batched or {}).items():
        handlers[f"batched:{name}"] = {
            "class": "servicekit.web.logging.BatchedStreamHandler",
            "formatter": "structured",
            "flush_interval": interval,
        }
        loggers[name] = {"handlers": [f"batched:{name}"], "level": level, "propagate": False}
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
        "handlers": handlers,
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }


def _service_adder(service_name: str):
    def add_service(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service_name)
        return event_dict

    return add_service


class BatchedStreamHandler(logging.StreamHandler):
    """A StreamHandler (stderr by default) whose lines are written in batches, as nginx's
    `access_log ... buffer= flush=`: one write at most `flush_interval` seconds after a batch's
    first line, at once when the batch holds `capacity` characters or a record at WARNING or
    above arrives, before the process forks, and as it ends (atexit, and a multiprocessing
    worker's exit, which skips atexit: granian's and uvicorn's workers end that way).

    Each line written to a pipe costs a system call and a wake-up of its reader (a container's
    log collector, `make run`'s supervisor): a line per request through the proxy cost ~23 µs more
    to a pipe than to /dev/null. A process killed outright (SIGKILL, out of memory) loses the
    lines of its last `flush_interval` seconds."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        flush_interval: float = 1.0,
        capacity: int = 64 * 1024,
    ):
        super().__init__(stream)
        if flush_interval < 0:
            raise ValueError(f"flush_interval must be >= 0 seconds, not {flush_interval!r}")
        self.flush_interval = float(flush_interval)
        self.capacity = capacity
        self._batch: list[str] = []
        self._size = 0
        self._first_line: threading.Event | None = None  # set: the flusher thread has work
        self._flusher_pid = 0  # the process whose flusher thread runs (none in a forked child)
        _BATCHED.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._batch.append(line)
            self._size += len(line)
            if (
                self._size >= self.capacity
                or record.levelno >= logging.WARNING
                or self.flush_interval == 0
            ):
                self._write()
            elif len(self._batch) == 1:
                self._wake_flusher()

    def _wake_flusher(self) -> None:
        if self._flusher_pid != os.getpid():  # (0 until the first batch)
            self._flusher_pid = os.getpid()
            self._first_line = threading.Event()
            threading.Thread(
                target=self._flush_when_due,
                args=(self._first_line,),
                name="log-batch-flusher",
                daemon=True,
            ).start()
        self._first_line.set()  # type: ignore[union-attr]

    def _flush_when_due(self, first_line: threading.Event) -> None:
        """The flusher thread: each batch written `flush_interval` seconds after its first line."""
        while True:
            first_line.wait()
            time.sleep(self.flush_interval)
            first_line.clear()  # (before the write: a line after it starts the next batch)
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        """(with the lock held) the batch in one write."""
        if not self._batch:
            return
        text = "".join(self._batch)
        self._batch.clear()
        self._size = 0
        try:
            self.stream.write(text)
            super().flush()
        except Exception:  # a closed stream: as StreamHandler's own, never raised to the caller
            if logging.raiseExceptions:
                sys.stderr.write(f"--- {text.count(self.terminator)} log lines lost\n")

    def close(self) -> None:
        self.flush()
        _BATCHED.discard(self)
        super().close()


_BATCHED: weakref.WeakSet[BatchedStreamHandler] = weakref.WeakSet()


def _flush_batches() -> None:
    for handler in list(_BATCHED):
        handler.flush()


class _Anchor:
    """(multiprocessing's after-fork hooks are kept by a weak reference to an object)"""


def _flush_at_worker_exit(_anchor: object = None) -> None:
    """A multiprocessing worker ends with os._exit (no atexit) after running its finalizers,
    which a forked worker starts without: registered again in each."""
    multiprocessing.util.Finalize(None, _flush_batches, exitpriority=100)


# Before a fork (a batch would be written twice, by the parent and the child) and at exit.
os.register_at_fork(before=_flush_batches)
atexit.register(_flush_batches)
_ANCHOR = _Anchor()
_flush_at_worker_exit()
multiprocessing.util.register_after_fork(_ANCHOR, _flush_at_worker_exit)
