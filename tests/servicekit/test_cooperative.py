"""servicekit.web.cooperative: blocking-style code on the event loop's thread, its waits lent to
the loop. Each test would hang (and fails on its own deadline instead) if a wait blocked the
thread: the other side of every wait here is served by the same loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import greenlet
import pytest

from servicekit.web import cooperative


def _run(coroutine, timeout: float = 20):
    async def bounded():
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


@pytest.mark.parametrize("launch", ["run", "start"])
def test_two_runs_on_one_thread_wait_for_each_other_through_the_loop(launch):
    """Two jobs at once, by `run` (awaited in a task each) or by `start` (no task)."""
    met: list[str] = []
    began = cooperative.run if launch == "run" else _started

    async def main():
        first_in = asyncio.Event()
        second_in = asyncio.Event()

        def first():
            first_in.set()
            cooperative.wait(second_in.wait())  # only the other run can set it
            met.append(f"first on {threading.current_thread().name}")
            return "one"

        def second():
            cooperative.wait(first_in.wait())
            second_in.set()
            met.append(f"second on {threading.current_thread().name}")
            return "two"

        return await asyncio.gather(began(first), began(second))

    assert _run(main()) == ["one", "two"]
    main_thread = threading.current_thread().name
    assert sorted(met) == [f"first on {main_thread}", f"second on {main_thread}"]


def test_an_exception_goes_both_ways():
    async def failing():
        raise LookupError("from the awaitable")

    def caught_and_raised():
        try:
            cooperative.wait(failing())
        except LookupError as exc:
            raise ValueError(f"seen in the function: {exc}") from exc

    with pytest.raises(ValueError, match="seen in the function: from the awaitable"):
        _run(cooperative.run(caught_and_raised))


def test_a_cancelled_run_is_cancelled_where_the_function_waits():
    cleaned: list[str] = []

    async def main():
        def waits_forever():
            try:
                cooperative.wait(asyncio.Event().wait())
            finally:
                cleaned.append("finally ran")

        task = asyncio.ensure_future(cooperative.run(waits_forever))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    _run(main())
    assert cleaned == ["finally ran"]


def test_blocking_runs_in_the_executor_inside_a_run_and_here_outside_one():
    pool = ThreadPoolExecutor(1, thread_name_prefix="offload")
    here = threading.current_thread().name

    def where(_tag: str) -> str:
        return threading.current_thread().name

    assert cooperative.blocking(where, "outside") == here

    async def main():
        released = threading.Event()

        def holds_a_thread():
            # blocks its pool thread until the loop, free meanwhile, runs the other request
            cooperative.blocking(released.wait, 10)
            return cooperative.blocking(where, "inside")

        def releases():
            released.set()
            return "released"

        return await asyncio.gather(
            cooperative.run(holds_a_thread, executor=pool), cooperative.run(releases)
        )

    try:
        inside, other = _run(main())
    finally:
        pool.shutdown()
    assert inside.startswith("offload") and other == "released"


def test_offloaded_calls_a_clients_methods_through_blocking():
    pool = ThreadPoolExecutor(1, thread_name_prefix="offload")

    class Client:
        name = "a client"

        def where(self, suffix: str = "") -> str:
            return threading.current_thread().name + suffix

    client = cooperative.Offloaded(Client())
    assert client.name == "a client"
    assert client.where(suffix="!") == threading.current_thread().name + "!"

    async def main():
        return await cooperative.run(lambda: client.where(suffix="?"), executor=pool)

    try:
        assert _run(main()).startswith("offload") and _run(main()).endswith("?")
    finally:
        pool.shutdown()


def test_wait_socket_sees_the_peer_write_and_gives_up_at_its_timeout():
    left, right = socket.socketpair()
    left.setblocking(False)

    async def main():
        def reader():
            timed_out = not cooperative.wait_socket(left, write=False, timeout=0.05)
            assert cooperative.wait_socket(left, write=False, timeout=10)
            return timed_out, left.recv(10)

        async def writer():
            await asyncio.sleep(0.2)  # after the reader's first wait gave up
            right.send(b"hello")

        return (await asyncio.gather(cooperative.run(reader), writer()))[0]

    try:
        assert _run(main()) == (True, b"hello")
    finally:
        left.close()
        right.close()


def _loops():
    """The loops the proxy's workers run: asyncio's own and uvloop (STRANGLER_PROXY_LOOP)."""
    import uvloop

    return [
        pytest.param(asyncio.new_event_loop, id="asyncio"),
        pytest.param(uvloop.new_event_loop, id="uvloop"),
    ]


def _on_a_pair(new_loop, main, timeout: float = 20) -> None:
    """`main(left, right)` run on a new loop, `left` a non-blocking end of a socket pair."""
    left, right = socket.socketpair()
    left.setblocking(False)
    loop = new_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(left, right), timeout))
    finally:
        loop.close()
        left.close()
        right.close()


def _read(sock: socket.socket, watch: cooperative.ReadWatch) -> bytes:
    """What a reader does: recv, and on EAGAIN wait (a wake-up may be stale: asyncio's loop runs
    a readiness callback it queued before the last read, and the reader waits again)."""
    while True:
        try:
            return sock.recv(10)
        except BlockingIOError:
            assert watch.wait(10)


async def _send_later(sock: socket.socket, data: bytes) -> None:
    await asyncio.sleep(0.05)  # the reader waits by then: its socket registered
    sock.send(data)


@pytest.mark.parametrize("new_loop", _loops())
def test_a_read_watch_stays_registered_between_waits_and_gives_up_at_its_timeout(new_loop):
    seen: list = []

    async def main(left, right):
        def reader():
            watch = cooperative.ReadWatch(left)
            seen.append(("timed out", not watch.wait(0.05)))
            for _ in range(3):
                seen.append((_read(left, watch), watch.registered))
            return watch

        async def writer():
            await asyncio.sleep(0.2)  # after the first wait gave up
            for word in (b"one", b"two", b"three"):
                right.send(word)
                await asyncio.sleep(0.05)

        watch = (await asyncio.gather(cooperative.run(reader), writer()))[0]
        watch.close()
        assert not watch.registered and left.fileno() == -1

    _on_a_pair(new_loop, main)
    assert seen == [("timed out", True), (b"one", True), (b"two", True), (b"three", True)]


@pytest.mark.parametrize("new_loop", _loops())
def test_a_read_watch_readable_with_nobody_waiting_is_unregistered_not_spun_on(new_loop):
    """An idle kept-alive connection its peer closed: the level-triggered poll would call back on
    every turn of the loop; the watch unregisters at the first, and its next wait sees the EOF."""

    async def main(left, right):
        def first():
            watch = cooperative.ReadWatch(left)
            assert _read(left, watch) == b"answer"
            return watch

        watch = (await asyncio.gather(cooperative.run(first), _send_later(right, b"answer")))[0]
        assert watch.registered  # idle, still watched
        right.close()  # the peer closes the idle connection
        turns = 0
        while watch.registered and turns < 100:
            await asyncio.sleep(0)
            turns += 1
        assert not watch.registered, "still registered: the loop would call back on every turn"

        def second():
            return _read(left, watch)  # registered again, readable at once: the EOF

        assert await cooperative.run(second) == b""
        watch.close()

    _on_a_pair(new_loop, main)


@pytest.mark.parametrize("new_loop", _loops())
def test_a_read_watch_waited_on_under_another_loop_waits_on_that_loop(new_loop):
    """A connection kept from a loop that no longer runs (stopped, not closed), read under a new
    loop on the same thread: the wait goes to the loop that runs, not to the watch's own (whose
    callbacks nobody would run: the wait would end only at its timeout)."""
    left, right = socket.socketpair()
    left.setblocking(False)
    first, second = new_loop(), new_loop()
    try:
        watch = first.run_until_complete(cooperative.run(cooperative.ReadWatch, left))

        async def read_later():
            def reader():
                started = time.monotonic()
                ready = watch.wait(5)
                return ready, time.monotonic() - started, left.recv(10)

            async def writer():
                await asyncio.sleep(0.05)
                right.send(b"late")

            return (await asyncio.gather(cooperative.run(reader), writer()))[0]

        ready, waited, data = second.run_until_complete(read_later())
        assert (ready, data) == (True, b"late") and waited < 4
    finally:
        second.close()
        first.close()
        left.close()
        right.close()


@pytest.mark.parametrize("new_loop", _loops())
def test_a_read_watch_closed_from_another_thread_is_closed_on_the_loops_thread(new_loop):
    """A shadow call's thread took the connection from the pool: its close is the loop's job."""
    closed_on: list[str] = []

    async def main(left, right):
        loop = asyncio.get_running_loop()

        class Spied(cooperative.ReadWatch):
            def _close(self) -> None:
                closed_on.append(threading.current_thread().name)
                super()._close()

        def first():
            watch = Spied(left)
            _read(left, watch)
            return watch

        watch = (await asyncio.gather(cooperative.run(first), _send_later(right, b"x")))[0]
        assert watch.registered
        elsewhere = threading.Thread(target=watch.close, name="shadow")
        elsewhere.start()
        await loop.run_in_executor(None, elsewhere.join)
        for _ in range(100):
            if closed_on:
                break
            await asyncio.sleep(0.01)
        assert not watch.registered and left.fileno() == -1

    _on_a_pair(new_loop, main)
    assert closed_on == [threading.main_thread().name]


def test_sleep_lets_the_loop_serve_others():
    order: list[str] = []

    async def main():
        def sleeper():
            cooperative.sleep(0.05)
            order.append("slept")

        async def other():
            order.append("other ran meanwhile")

        await asyncio.gather(cooperative.run(sleeper), other())

    _run(main())
    assert order == ["other ran meanwhile", "slept"]


def test_wait_outside_a_run_is_a_clear_error_and_active_says_where_code_runs():
    assert not cooperative.active()
    pending = asyncio.sleep(0)
    try:
        with pytest.raises(RuntimeError, match=r"outside cooperative\.run"):
            cooperative.wait(pending)
    finally:
        pending.close()
    assert _run(cooperative.run(cooperative.active)) is True


def test_one_greenlet_serves_job_after_job_each_from_a_clean_slate():
    """A finished job's greenlet takes the next (a new one costs an mmap and an munmap of its
    frame stack); the next job sees none of its context variables and it keeps no result."""
    import contextvars
    import weakref

    import greenlet

    marker = contextvars.ContextVar("marker", default="unset")

    class Answer:
        pass

    def first():
        marker.set("set by the first job")
        return greenlet.getcurrent(), Answer()

    def second():
        return greenlet.getcurrent(), marker.get()

    def failing():
        raise LookupError("a job that fails")

    async def main():
        runner, answer = await cooperative.run(first)
        kept = weakref.ref(answer)
        del answer
        assert kept() is None  # (the idle greenlet holds nothing of the job it finished)
        with pytest.raises(LookupError):
            await cooperative.run(failing)
        return runner, await cooperative.run(second)

    runner, (again, seen) = _run(main())
    assert again is runner
    assert seen == "unset"


def test_runs_at_once_each_have_their_own_greenlet():
    async def main():
        both_in = asyncio.Barrier(2)

        def job():
            import greenlet

            cooperative.wait(both_in.wait())
            return greenlet.getcurrent()

        return await asyncio.gather(cooperative.run(job), cooperative.run(job))

    first, second = _run(main())
    assert first is not second


def _started(fn, *args) -> asyncio.Future:
    """`cooperative.start(fn, *args)` from a loop callback, its result as a future."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    def done(result):
        try:
            outcome.set_result(result())
        except BaseException as exc:  # (what the job raised, handed on as is)
            outcome.set_exception(exc)

    loop.call_soon(lambda: cooperative.start(fn, *args, done=done))
    return outcome


def test_start_runs_a_job_without_a_task_resumed_by_the_futures_it_waits_for():
    """`start`: the job's waits on futures resume it from their callbacks (no task wraps it),
    a coroutine it hands over is run as a task, and what it returns reaches `done`."""
    seen: list[object] = []

    async def main():
        loop = asyncio.get_running_loop()
        later = loop.create_future()
        loop.call_later(0.01, later.set_result, "from a future")
        ready = loop.create_future()
        ready.set_result("already there")

        def job(a, b):
            seen.append(asyncio.current_task())  # none: no task runs this job
            seen.append(cooperative.wait(later))
            seen.append(cooperative.wait(ready))  # done before the wait: no turn of the loop
            seen.append(cooperative.wait(asyncio.sleep(0, "from a coroutine")))
            return a + b

        return await _started(job, 2, 3)

    assert _run(main()) == 5
    assert seen == [None, "from a future", "already there", "from a coroutine"]


def test_start_throws_a_failed_wait_into_the_job_and_hands_its_exception_to_done():
    async def main():
        loop = asyncio.get_running_loop()
        failed = loop.create_future()
        loop.call_later(0.01, failed.set_exception, LookupError("from the future"))

        def job():
            try:
                cooperative.wait(failed)
            except LookupError as exc:
                raise ValueError(f"seen in the job: {exc}") from exc

        return await _started(job)

    with pytest.raises(ValueError, match="seen in the job: from the future"):
        _run(main())


def test_a_failed_blocking_call_on_a_thread_that_never_lent_keeps_no_greenlet():
    """A call through `blocking` that fails on a thread that never ran a job (a shadow call's
    pool thread) leaves no greenlet in the frames its traceback keeps. One did (the thread's
    main greenlet, from `greenlet.getcurrent()`) and was found freed after the thread ended
    while the kept frame still referred to it: the proxy suite's process died of a
    segmentation fault in a later garbage collection (tests/proxy/test_modes.py, 4 runs in
    8)."""

    def refused() -> None:
        raise ConnectionRefusedError("refused")

    kept: list[BaseException] = []

    def work() -> None:
        try:
            cooperative.blocking(refused)
        except ConnectionRefusedError as exc:
            kept.append(exc)
        assert not cooperative.active()
        cooperative.sleep(0)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    frames = [frame for frame, _ in traceback.walk_tb(kept[0].__traceback__)]
    assert any(f.f_code is cooperative.blocking.__code__ for f in frames)
    held = [
        (f.f_code.co_name, name)
        for f in frames
        for name, value in f.f_locals.items()
        if isinstance(value, greenlet.greenlet)
    ]
    assert held == []
