"""servicekit.web.tally: the hot path's metric updates, summed over a turn of the event loop and
applied once, record what the same updates made one by one record."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Histogram

from servicekit.web import cooperative, tally

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1)
# bounds themselves (a value equal to a bound is counted in that bucket), between, past the last
VALUES = [0.0, 0.005, 0.0051, 0.01, 0.02, 0.025, 0.07, 0.1, 0.3, 7.0, 0.004]


def _metrics():
    registry = CollectorRegistry()
    counter = Counter("t_requests", "requests", ["status"], registry=registry)
    histogram = Histogram("t_seconds", "seconds", ["route"], buckets=BOUNDS, registry=registry)
    return registry, counter, histogram


def _samples(registry) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_observations_summed_per_bucket_record_what_one_by_one_records():
    one_by_one, _, each = _metrics()
    together, _, summed = _metrics()
    for value in VALUES:
        each.labels("r").observe(value)
    tally.observe_all(summed.labels("r"), VALUES)
    assert _samples(together) == _samples(one_by_one)


def test_outside_a_loop_each_update_is_applied_at_once():
    registry, counter, histogram = _metrics()
    tally.inc(counter.labels("200"))
    tally.observe(histogram.labels("r"), 0.02)
    assert registry.get_sample_value("t_requests_total", {"status": "200"}) == 1
    assert registry.get_sample_value("t_seconds_count", {"route": "r"}) == 1


def test_a_turn_of_the_loop_applies_its_requests_updates_once(monkeypatch):
    registry, counter, histogram = _metrics()
    reference, ref_counter, ref_histogram = _metrics()
    ok = counter.labels("200")
    writes: list[float] = []
    real_inc = ok._value.inc
    monkeypatch.setattr(ok._value, "inc", lambda amount: (writes.append(amount), real_inc(amount)))
    seen_in_turn: list[float | None] = []

    def requests():  # what a turn's requests record, each in its greenlet on the loop's thread
        for value in VALUES:
            tally.inc(ok)
            tally.observe(histogram.labels("r"), value)
            ref_counter.labels("200").inc()
            ref_histogram.labels("r").observe(value)
        seen_in_turn.append(registry.get_sample_value("t_requests_total", {"status": "200"}))

    async def main():
        await cooperative.run(requests)
        await asyncio.sleep(0)  # the turn ends: its flush runs

    asyncio.run(main())
    assert seen_in_turn == [0.0]  # nothing written while the turn's requests ran
    assert writes == [len(VALUES)]  # one write for the turn's increments
    assert _samples(registry) == _samples(reference)


def test_a_histogram_of_another_shape_observes_one_by_one():
    class Plain:
        def __init__(self):
            self.seen: list[float] = []

        def observe(self, value):
            self.seen.append(value)

    plain = Plain()
    tally.observe_all(plain, VALUES)
    assert plain.seen == VALUES
