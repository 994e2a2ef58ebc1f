"""servicekit.web.deadline: a deadline set again and again (each request on a kept-alive
connection) kept by one timer at a time, on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from servicekit.web.deadline import Deadline

LOOPS = [
    pytest.param(asyncio.new_event_loop, id="asyncio"),
    pytest.param(uvloop.new_event_loop, id="uvloop"),
]


def _run_on(new_loop, main, timeout: float = 20):
    loop = new_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), timeout))
    finally:
        loop.close()


@pytest.mark.parametrize("new_loop", LOOPS)
def test_a_deadline_moved_on_before_it_falls_never_expires_and_then_expires_once(new_loop):
    async def main():
        loop = asyncio.get_running_loop()
        expired: list[float] = []
        deadline = Deadline(loop, lambda: expired.append(loop.time()))
        for _ in range(10):  # a request every 0.03 s, each with 0.1 s for its head
            deadline.start(0.1)
            await asyncio.sleep(0.03)
        assert expired == [] and deadline.pending
        last = loop.time()
        deadline.start(0.1)
        await asyncio.sleep(0.4)
        assert len(expired) == 1 and not deadline.pending
        assert expired[0] >= last + 0.1 - 0.002  # (libuv's timers count whole milliseconds)
        deadline.close()

    _run_on(new_loop, main)


@pytest.mark.parametrize("new_loop", LOOPS)
def test_a_sooner_deadline_is_kept_and_a_stopped_or_closed_one_never_expires(new_loop):
    async def main():
        loop = asyncio.get_running_loop()
        expired: list[str] = []
        sooner = Deadline(loop, lambda: expired.append("sooner"))
        sooner.start(30)
        sooner.start(0.05)  # the armed timer (30 s) would be too late: armed again
        stopped = Deadline(loop, lambda: expired.append("stopped"))
        stopped.start(0.05)
        stopped.stop()
        closed = Deadline(loop, lambda: expired.append("closed"))
        closed.start(0.05)
        closed.close()
        await asyncio.sleep(0.3)
        assert expired == ["sooner"]
        sooner.close()
        stopped.close()

    _run_on(new_loop, main)


def test_one_timer_serves_many_settings():
    """The point of it: a setting that falls later than the armed timer arms nothing."""

    async def main():
        loop = asyncio.get_running_loop()
        armed: list[float] = []
        real_call_at = loop.call_at

        def counting_call_at(when, callback, *args, **kwargs):
            armed.append(when)
            return real_call_at(when, callback, *args, **kwargs)

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        deadline = Deadline(loop, lambda: None)
        for _ in range(1000):
            deadline.start(10)
            deadline.stop()
        deadline.close()
        return len(armed)

    assert _run_on(asyncio.new_event_loop, main) == 1
