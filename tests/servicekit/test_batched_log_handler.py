"""BatchedStreamHandler: a logger's lines written in batches (the proxy's access lines), and
none lost or written twice across a flush interval, a warning, a full batch, a fork or an exit."""

from __future__ import annotations

import io
import logging
import multiprocessing
import threading

import pytest

from servicekit.web.env import ImproperlyConfiguredEnv, env_float
from servicekit.web.logging import BatchedStreamHandler, logging_config
from tests.support.wait import wait_for


class Recording(io.StringIO):
    """A stream that counts its writes (each one a system call on a real pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.writes.append(text)
        return super().write(text)


@pytest.fixture
def logger():
    made: list[tuple[logging.Logger, BatchedStreamHandler]] = []

    def make(stream, **options) -> logging.Logger:
        handler = BatchedStreamHandler(stream, **options)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log = logging.getLogger(f"test.batched.{len(made)}.{id(stream)}")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        made.append((log, handler))
        return log

    yield make
    for log, handler in made:
        log.removeHandler(handler)
        handler.close()


def test_lines_are_held_then_written_together_once_the_interval_passed(logger):
    stream = Recording()
    log = logger(stream, flush_interval=0.3)
    for number in range(5):
        log.info("line %d", number)
    assert stream.getvalue() == ""  # held: nothing written yet
    wait_for(lambda: stream.writes, timeout=10, interval=0.05, what="the batch")
    assert stream.writes == ["line 0\nline 1\nline 2\nline 3\nline 4\n"]  # in one write
    # and: the next line starts a batch of its own, written in turn
    log.info("line 5")
    wait_for(lambda: len(stream.writes) == 2, timeout=10, interval=0.05, what="the next batch")
    assert stream.writes[1] == "line 5\n"


def test_a_warning_writes_the_batch_at_once_in_order(logger):
    stream = Recording()
    log = logger(stream, flush_interval=60)
    log.info("first")
    log.info("second")
    log.warning("something is wrong")
    assert stream.writes == ["first\nsecond\nsomething is wrong\n"]


def test_a_full_batch_is_written_at_once(logger):
    stream = Recording()
    log = logger(stream, flush_interval=60, capacity=100)
    for _ in range(9):
        log.info("x" * 10)  # 11 characters a line: 99 held
    assert stream.writes == []
    log.info("x" * 10)
    assert stream.writes == [("x" * 10 + "\n") * 10]


def test_an_interval_of_zero_writes_each_line(logger):
    stream = Recording()
    log = logger(stream, flush_interval=0)
    log.info("a")
    log.info("b")
    assert stream.writes == ["a\n", "b\n"]


def test_flush_and_close_write_what_is_held(logger):
    stream = Recording()
    log = logger(stream, flush_interval=60)
    log.info("held")
    log.handlers[0].flush()
    assert stream.writes == ["held\n"]


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match="flush_interval must be >= 0 seconds, not -1"):
        BatchedStreamHandler(io.StringIO(), flush_interval=-1)


def _child(path: str) -> None:
    log = logging.getLogger("test.batched.child")
    log.info("from the child")  # held, then the child ends as granian's workers do (os._exit)


def test_a_forked_worker_writes_its_own_held_lines_as_it_ends_and_never_the_parents(tmp_path):
    # given: a line held in the parent, and a child forked (a granian or uvicorn worker)
    path = tmp_path / "log.txt"
    with open(path, "a", buffering=1) as stream:
        handler = BatchedStreamHandler(stream, flush_interval=60)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logs = [logging.getLogger("test.batched.parent"), logging.getLogger("test.batched.child")]
        for log in logs:
            log.propagate = False
            log.setLevel(logging.INFO)
            log.addHandler(handler)
        try:
            logs[0].info("from the parent")
            child = multiprocessing.get_context("fork").Process(target=_child, args=(str(path),))
            # when
            child.start()
            child.join(30)
            assert child.exitcode == 0
            written_after_child = path.read_text()
            handler.flush()
        finally:
            for log in logs:
                log.removeHandler(handler)
            handler.close()
    # then: the parent's line written once (before the fork), the child's as it ended
    assert written_after_child.splitlines() == ["from the parent", "from the child"]
    assert path.read_text().splitlines() == ["from the parent", "from the child"]


def test_logging_config_sends_a_batched_logger_to_its_own_handler_only():
    config = logging_config(service_name="proxy", batched={"strangler_proxy.access": 0.5})
    handler = config["handlers"]["batched:strangler_proxy.access"]
    assert handler["class"] == "servicekit.web.logging.BatchedStreamHandler"
    assert handler["flush_interval"] == 0.5 and handler["formatter"] == "structured"
    logger = config["loggers"]["strangler_proxy.access"]
    assert logger["handlers"] == ["batched:strangler_proxy.access"]
    assert logger["propagate"] is False  # never written twice, by root's handler too


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("soon", "X='soon' is not a number"),
        ("-1", "X='-1' must be a number >= 0"),
        ("nan", "X='nan' must be a number >= 0"),
    ],
)
def test_a_bad_interval_in_the_environment_is_named(raw, message):
    with pytest.raises(ImproperlyConfiguredEnv, match=message):
        env_float("X", 1.0, minimum=0, environ={"X": raw})
    assert env_float("X", 1.0, minimum=0, environ={}) == 1.0
    assert env_float("X", 1.0, minimum=0, environ={"X": "0.25"}) == 0.25
