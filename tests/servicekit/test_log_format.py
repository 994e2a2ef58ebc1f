"""`LOG_FORMAT`: JSON for machines, readable coloured lines for a person at a terminal
(servicekit.web.logging.log_format / logging_config)."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
import structlog
from django.conf import settings

from servicekit.web.logging import log_colors, log_format, logging_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "stream", "expected"),
    [
        ({}, Terminal(), "console"),  # make run's default (DJANGO_ENV local) at a terminal
        ({"DJANGO_ENV": "dev"}, Terminal(), "console"),
        ({}, io.StringIO(), "json"),  # piped or to a file: a machine reads it
        ({"DJANGO_ENV": "production"}, Terminal(), "json"),
        ({"DJANGO_ENV": "test"}, Terminal(), "json"),
        ({"LOG_FORMAT": "json"}, Terminal(), "json"),  # asked for
        ({"LOG_FORMAT": "Console", "DJANGO_ENV": "production"}, io.StringIO(), "console"),
        ({"LOG_JSON": "true"}, Terminal(), "json"),  # the older switch still works
        ({"LOG_JSON": "false"}, io.StringIO(), "console"),
        ({"LOG_FORMAT": "json", "LOG_JSON": "false"}, Terminal(), "json"),
    ],
)
def test_log_format_is_console_only_for_a_person_or_when_asked(environ, stream, expected):
    assert log_format(environ=environ, stream=stream) == expected


def test_an_unknown_log_format_is_refused_at_start():
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of json, console, not 'xml'"):
        log_format(environ={"LOG_FORMAT": "xml"}, stream=io.StringIO())


def test_colours_follow_the_terminal_unless_told():
    assert log_colors(environ={}, stream=Terminal()) is True
    assert log_colors(environ={}, stream=io.StringIO()) is False
    assert log_colors(environ={"LOG_COLORS": "true"}, stream=io.StringIO()) is True
    assert log_colors(environ={"LOG_COLORS": "false"}, stream=Terminal()) is False


def emit(config: dict, stream: io.StringIO) -> str:
    config["handlers"]["console"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        structlog.get_logger("tutorial").info("order placed", order_id=7, password="hunter2")
    finally:
        # back to this process's own set-up (logging_config also configures structlog)
        logging_config(service_name="restore")
        logging.config.dictConfig(settings.LOGGING)
    return stream.getvalue()


def test_console_lines_are_readable_coloured_and_still_redacted():
    out = emit(logging_config(service_name="catalog", format="console", colors=True), io.StringIO())
    line = out.strip().splitlines()[-1]
    assert "order placed" in line and "order_id" in line and "7" in line
    assert "\x1b[" in line  # ANSI colours
    assert "hunter2" not in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_json_lines_stay_one_object_each_for_machines():
    out = emit(logging_config(service_name="catalog", format="json"), io.StringIO())
    record = json.loads(out.strip().splitlines()[-1])
    assert record["event"] == "order placed"
    assert record["order_id"] == 7
    assert record["service"] == "catalog"
    assert record["password"] != "hunter2"
    assert "\x1b[" not in out


def test_a_misspelt_format_in_code_is_refused():
    with pytest.raises(ValueError, match="log format must be one of json, console"):
        logging_config(service_name="x", format="text")


def test_records_skip_the_callers_stack_walk():
    # no renderer prints the caller's file, line or function, so none is looked up per record
    logging_config(service_name="catalog")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("tests.caller")
    logger.addHandler(handler)
    try:
        logger.warning("where from?")
    finally:
        logger.removeHandler(handler)
    assert seen and seen[0].funcName == "(unknown function)" and seen[0].lineno == 0
