"""`through(breaker, fn, ...)`: a breaker's rules without pybreaker's lock held over the call."""

from __future__ import annotations

import threading

import pybreaker
import pytest

from servicekit.web.http_client import UpstreamAskedToWait, make_breaker, through


def _boom(exc: BaseException):
    raise exc


def test_a_success_is_returned_and_counts_nothing():
    breaker = make_breaker("ok", fail_max=2, reset_timeout=60)
    assert through(breaker, lambda a, b: a + b, 2, 3) == 5
    assert (breaker.current_state, breaker.fail_counter) == ("closed", 0)


def test_failures_are_counted_open_the_breaker_and_an_open_breaker_calls_nothing():
    breaker = make_breaker("failing", fail_max=2, reset_timeout=60)
    first = ValueError("down")
    with pytest.raises(ValueError) as raised:
        through(breaker, _boom, first)
    assert raised.value is first and breaker.fail_counter == 1
    second = ValueError("still down")
    with pytest.raises(pybreaker.CircuitBreakerError) as tripped:
        through(breaker, _boom, second)  # the failure that trips it, as pybreaker says it
    assert tripped.value.__context__ is second  # (the proxy closes that failure's answer)
    assert breaker.current_state == "open"
    called: list[int] = []
    with pytest.raises(pybreaker.CircuitBreakerError):
        through(breaker, called.append, 1)
    assert called == []


def test_a_success_after_a_failure_resets_the_count():
    breaker = make_breaker("flaky", fail_max=3, reset_timeout=60)
    with pytest.raises(ValueError):
        through(breaker, _boom, ValueError("once"))
    assert breaker.fail_counter == 1
    assert through(breaker, lambda: "fine") == "fine"
    assert breaker.fail_counter == 0


def test_an_excluded_exception_is_raised_and_not_counted():
    breaker = make_breaker("busy", fail_max=1, reset_timeout=60)
    with pytest.raises(UpstreamAskedToWait):
        through(breaker, _boom, UpstreamAskedToWait(503, retry_after=1))
    assert (breaker.current_state, breaker.fail_counter) == ("closed", 0)


@pytest.mark.parametrize("hears_calls_begin", [True, False])
def test_listeners_hear_each_call_as_pybreaker_tells_them(hears_calls_begin):
    heard: list[str] = []

    class Listener(pybreaker.CircuitBreakerListener):
        def success(self, cb):
            heard.append("success")

        def failure(self, cb, exc):
            heard.append("failure")

        def state_change(self, cb, old_state, new_state):
            heard.append(new_state.name)

    class Early(Listener):
        def before_call(self, cb, func, *args, **kwargs):
            heard.append("before")

    breaker = make_breaker("heard", fail_max=2, reset_timeout=60)
    breaker.add_listener(Early() if hears_calls_begin else Listener())
    through(breaker, lambda: None)
    for _ in range(2):
        with pytest.raises((ValueError, pybreaker.CircuitBreakerError)):
            through(breaker, _boom, ValueError("x"))
    before = ["before"] if hears_calls_begin else []
    assert heard == [*before, "success", *before, "failure", *before, "failure", "open"]


def test_a_closed_breaker_with_nothing_to_record_skips_pybreakers_generators(monkeypatch):
    """The proxy's breakers (a listener that hears state changes only): the call is direct."""
    from servicekit.web.metrics import BreakerMetricsListener

    breaker = make_breaker("direct", fail_max=3, reset_timeout=60)
    breaker.add_listener(BreakerMetricsListener())
    entered: list[bool] = []
    calling = breaker.calling

    def counted():
        entered.append(True)
        return calling()

    monkeypatch.setattr(breaker, "calling", counted)
    assert through(breaker, lambda: "direct") == "direct"
    assert entered == []
    with pytest.raises(ValueError):
        through(breaker, _boom, ValueError("x"))
    assert through(breaker, lambda: "counted") == "counted"  # a failure counted: pybreaker's way
    assert entered == [True] and breaker.fail_counter == 0


@pytest.mark.parametrize("failures", [0, 1])
def test_calls_through_one_breaker_from_two_threads_overlap(failures):
    """pybreaker's `call` holds the breaker's lock over the call: a second thread's call waited
    for the first's round trip (the barrier below would time out). A breaker with a failure
    counted goes through pybreaker's `calling()`, which does not hold it either."""
    breaker = make_breaker("shared", fail_max=5, reset_timeout=60)
    for _ in range(failures):
        with pytest.raises(ValueError):
            through(breaker, _boom, ValueError("x"))
    both_inside = threading.Barrier(2, timeout=5)
    outcomes: list[object] = []

    def call():
        try:
            outcomes.append(through(breaker, both_inside.wait))
        except threading.BrokenBarrierError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == [0, 1]  # (Barrier.wait returns each thread's index)
