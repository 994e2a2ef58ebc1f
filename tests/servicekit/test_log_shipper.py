"""The log shipper: tails files line by line, labels streams sparingly, pushes Loki's format."""

from __future__ import annotations

import json

from servicekit.web.log_shipper import Batcher, Shipper, Tail, labels_of
from tests.support.loki import LokiRecorder, compile_logql, query_range


def test_tail_returns_complete_lines_only_and_restarts_after_truncation(tmp_path):
    path = tmp_path / "p.log"
    tail = Tail("p", path)
    assert tail.read_lines() == []  # not there yet
    path.write_bytes(b'{"a": 1}\n{"b"')
    assert tail.read_lines() == ['{"a": 1}']
    with path.open("ab") as handle:
        handle.write(b": 2}\n")
    assert tail.read_lines() == ['{"b": 2}']
    path.write_bytes(b"new\n")  # truncated, rewritten
    assert tail.read_lines() == ["new"]


def test_labels_are_the_process_service_and_level_never_the_request_id():
    line = json.dumps({"service": "monolith", "level": "info", "request_id": "r1", "event": "x"})
    assert labels_of("monolith", line) == {
        "job": "strangler",
        "process": "monolith",
        "service": "monolith",
        "level": "info",
    }
    assert labels_of("proxy", "Traceback (most recent call last):") == {
        "job": "strangler",
        "process": "proxy",
    }


def test_timestamps_rise_within_a_stream_and_pending_lines_are_bounded():
    batcher = Batcher(max_pending=3)
    for i in range(5):
        batcher.add("p", f"line {i}")
    assert batcher.dropped == 2
    body, count = batcher.payload(10)
    (stream,) = json.loads(body)["streams"]
    stamps = [int(ns) for ns, _ in stream["values"]]
    assert count == 3 and stamps == sorted(set(stamps))
    assert [line for _, line in stream["values"]] == ["line 2", "line 3", "line 4"]


def test_a_failed_push_keeps_the_lines_for_the_next_round(tmp_path):
    path = tmp_path / "p.log"
    path.write_text('{"request_id": "r1", "level": "info"}\n')
    with LokiRecorder() as recorder:
        url = recorder.url
    shipper = Shipper(url, [Tail("p", path)])
    assert shipper.poll() == 0 and len(shipper.batcher.pending) == 1  # Loki is down
    with LokiRecorder() as recorder:
        shipper.url = recorder.url
        assert shipper.poll() == 1
        (stream,) = query_range(recorder.url, '{job="strangler"} | json | request_id="r1"')
    assert stream["stream"]["process"] == "p"


def test_the_recorder_answers_the_logql_subset_the_tests_use():
    run = compile_logql('{job="strangler", process=~"mono.*"} |= "order" | json | level!="debug"')
    assert run({"job": "strangler", "process": "monolith"}, '{"event": "order", "level": "info"}')
    assert not run({"job": "strangler", "process": "proxy"}, '{"event": "order"}')
    assert not run({"job": "strangler", "process": "monolith"}, '{"event": "other"}')
