"""`python -m strangler_proxy.serve --bind HOST:PORT [--routes FILE] [--settings MODULE]`: the
proxy under uvicorn, its default server (the Procfile's `proxy:` line), or under granian.

Installed from the wheel, the same is the `strangler-proxy-serve` command. `--routes` names the
route table (else `STRANGLER_ROUTES_FILE`, else `<data folder>/routes.yaml`).

Granian parses HTTP in Rust: its per-request cost is ~20 µs of CPU where gunicorn gthread's is
~120-200 µs (accept loop, Python HTTP parser, thread-pool hand-offs), which was most of what the
proxy added to a request (benchmarks/bench_proxy.py; PERFORMANCE notes in
strangler_proxy/README.md). The proxy is served over granian's ASGI interface through a thin
adapter (strangler_proxy/edge/asgi.py): granian's WSGI interface loses the raw target and folds
`X_Foo` into `X-Foo`. gunicorn (`gunicorn -c strangler_proxy/gunicorn.conf.py`) still serves the
same application.

uvicorn, the default (strangler_proxy/edge/uvicorn_server.py), serves it with one thread per
worker: no hand-off between threads per request, the environ built as the head is parsed and
the answer written straight onto the connection (strangler_proxy/edge/wsgi_cycle.py), a head
deadline, head limits and a listening socket per worker added to it; it spends less CPU and
adds less latency per request than granian (PERFORMANCE in strangler_proxy/README.md).
`STRANGLER_PROXY_SERVER=granian` serves the same application under granian.

Environment: STRANGLER_PROXY_SERVER (uvicorn; granian), STRANGLER_PROXY_WORKERS (processes, 2),
STRANGLER_PROXY_THREADS (threads per worker, 8), STRANGLER_PROXY_HEADER_TIMEOUT (seconds for a
request head, 10), STRANGLER_PROXY_BODY_TIMEOUT (seconds any one body read may stall, 30),
STRANGLER_PROXY_LOOP (the workers' event loop: auto, i.e. uvloop when installed; uvloop; asyncio),
STRANGLER_PROXY_REQUESTS (cooperative: each request runs on the event loop's thread, its
upstream socket waits given to the loop; threads: each in a pool thread, the hand-off per
request that cooperative saves; strangler_proxy/edge/asgi.py),
STRANGLER_PROXY_ACCESS_LOG (the proxy's own structured line per request: true by default;
granian's access log stays off so that no request is logged twice), STRANGLER_PROXY_ACCESS_LOG_FLUSH
(seconds at most between writes of those lines' batches, 1; 0: each at once),
PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile

# Names a request header could have (HTTP_*, CONTENT_*) must never come from the process
# environment: granian's WSGI interface copies it into every environ (the ASGI adapter served
# here does not; they are cleared all the same, for a WSGI server started from this process).
_REQUEST_NAMES = ("HTTP_", "CONTENT_TYPE", "CONTENT_LENGTH")


def prepare_environment() -> None:
    for name in [n for n in os.environ if n.startswith(_REQUEST_NAMES)]:
        del os.environ[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler_proxy.settings")
    # Every worker writes its samples here; a scrape of any worker sums them (prometheus_client).
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="strangler-proxy-prom-"
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def event_loop():
    """Granian's event loop from STRANGLER_PROXY_LOOP: `auto` (uvloop when installed, as it is
    with the proxy), `uvloop` or `asyncio`; anything else stops the start with its name."""
    from granian.constants import Loops

    loop = os.environ.get("STRANGLER_PROXY_LOOP", "auto")
    if loop not in ("auto", "uvloop", "asyncio"):
        raise SystemExit(f"STRANGLER_PROXY_LOOP={loop!r}: expected auto, uvloop or asyncio")
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401  (what granian's workers would import)
        except ImportError:
            # (granian's workers would each fail to start, and be respawned, over and over)
            raise SystemExit("STRANGLER_PROXY_LOOP=uvloop, but uvloop is not installed") from None
    return Loops(loop)


SERVERS = ("uvicorn", "granian")


def server() -> str:
    """STRANGLER_PROXY_SERVER: `uvicorn` (the default) or `granian`; anything else stops the
    start with its name."""
    name = os.environ.get("STRANGLER_PROXY_SERVER", "uvicorn")
    if name not in SERVERS:
        raise SystemExit(f"STRANGLER_PROXY_SERVER={name!r}: expected uvicorn or granian")
    return name


def request_mode() -> str:
    """STRANGLER_PROXY_REQUESTS: `cooperative` (the default) or `threads`; anything else stops
    the start with its name."""
    from strangler_proxy.edge.asgi import request_mode

    try:
        return request_mode()
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


# Seconds a worker still loading waits, after a stop signal, for granian's main process to ask
# it to stop (see _stop_before_serving).
_STOP_GRACE = 2.0
_stop_asked = False


def _exit_now(signum: int, frame: object) -> None:
    os._exit(0)


def _stop_before_serving() -> None:
    """A stop signal met by a worker that is not serving yet (forked, loading the application).

    granian sets a worker's own SIGTERM/SIGINT handlers only once the application is loaded;
    until then the worker runs the handler it inherited from the main process, which only
    marks the main process's copy, so the signal was lost and the worker killed only
    `workers_kill_timeout` later (30 s: a fleet stopped while starting took that long).

    The worker must not leave at the first signal either: a signal to the whole process group
    (Ctrl-C, a supervisor) reaches the workers first as often as not, and a worker that left
    before the main process marked the stop as its own is logged as a crash ("Unexpected exit")
    and granian exits with status 1. So the first signal waits for the main process's own (a
    second signal), or `_STOP_GRACE` seconds when nobody sends one (the main process's signal
    alone costs that grace); a worker whose main process is gone leaves at once.
    """
    global _stop_asked
    if _stop_asked or os.getppid() == 1:
        os._exit(0)
    _stop_asked = True
    signal.signal(signal.SIGALRM, _exit_now)
    signal.setitimer(signal.ITIMER_REAL, _STOP_GRACE)


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_mask_before_fork: set[signal.Signals] | None = None


def _block_stop_signals() -> None:
    global _mask_before_fork
    _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _restore_signal_mask() -> None:
    if _mask_before_fork is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, _mask_before_fork)


def hold_stop_signals_across_fork() -> None:
    """Stop signals wait, blocked, while granian forks a worker, until the child's Python is
    ready for them (`os.register_at_fork`'s child hooks run once it is).

    Otherwise a signal that reaches the child before then is lost: its C handler marks it
    pending, and CPython clears every pending mark just after a fork (`_PySignal_AfterFork`, so
    that a signal the parent got is not handled twice). A child is not scheduled at once on a busy
    machine, so a group's SIGTERM sent as the workers start, and the main process's own after it,
    can both land there; the worker then loaded, served, and was killed only at
    `workers_kill_timeout` (30 s; a CI run met it). Blocked, a signal stays with the kernel and is
    delivered when the child's hook unblocks it."""
    os.register_at_fork(
        before=_block_stop_signals,
        after_in_parent=_restore_signal_mask,
        after_in_child=_restore_signal_mask,
    )


def _server_class():
    from granian.server import Server

    class ProxyServer(Server):
        def signal_handler_interrupt(self, *args, **kwargs):
            if os.getpid() != self.pid:  # inherited by a worker that is not serving yet
                _stop_before_serving()
                return
            super().signal_handler_interrupt(*args, **kwargs)

        def signal_handler_reload(self, *args, **kwargs):
            if os.getpid() == self.pid:
                super().signal_handler_reload(*args, **kwargs)

    return ProxyServer


def worker_application():
    """granian's application factory, called in each worker as it starts. What is loaded by
    then (~110,000 tracked objects: Django, the proxy, their modules) lives as long as the
    worker: frozen, so that a full collection walks only what came later (one over the unfrozen
    heap took ~75 ms at start-up; a request leaves almost nothing to collect, 3 young
    collections and no full one in 80,000 requests under wrk, so this is for a long-lived worker
    whose heap grows, not a per-request saving)."""
    from servicekit.web.commands import freeze_startup_heap
    from strangler_proxy.asgi import application

    freeze_startup_heap()
    while _stop_asked:  # asked to stop while loading: serve nothing, wait to be ended
        signal.pause()
    return application


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT")
    parser.add_argument("--routes", help="the route table (default: $STRANGLER_ROUTES_FILE)")
    parser.add_argument(
        "--settings",
        help="the Django settings module (default: $DJANGO_SETTINGS_MODULE, else "
        "strangler_proxy.settings); the Procfile names it, as deploy/generate reads it there",
    )
    args = parser.parse_args(argv)
    if args.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    host, _, port = args.bind.rpartition(":")
    if args.routes:
        os.environ["STRANGLER_ROUTES_FILE"] = os.path.abspath(args.routes)
    prepare_environment()

    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    header_timeout = float(os.environ.get("STRANGLER_PROXY_HEADER_TIMEOUT", "10"))
    loop = event_loop()
    request_mode()  # (checked here: a worker that failed on it would be respawned over and over)
    workers = int(os.environ.get("STRANGLER_PROXY_WORKERS", "2"))
    if server() == "uvicorn":
        try:
            from strangler_proxy.edge import uvicorn_server
        except ImportError as exc:  # (dependencies of the wheel: an installation that lost them)
            raise SystemExit(
                f"STRANGLER_PROXY_SERVER=uvicorn needs uvicorn and httptools ({exc}): "
                "pip install strangler-proxy"
            ) from None

        return uvicorn_server.serve(
            host or "127.0.0.1",
            int(port),
            workers=workers,
            head_timeout=header_timeout,
            loop=loop.value,
        )
    hold_stop_signals_across_fork()
    _server_class()(
        "strangler_proxy.serve:worker_application",
        factory=True,
        address=host or "127.0.0.1",
        port=int(port),
        # ASGI, not granian's WSGI: its scope keeps the raw target and header names
        # (strangler_proxy/edge/asgi.py); the application runs on the loop's thread there
        # (STRANGLER_PROXY_REQUESTS=cooperative), or in its thread pool (threads).
        interface=Interfaces.ASGINL,
        # uvloop (auto, when installed; it is a dependency): granian's hand-over of each request
        # and the pool's calls wake the loop, which asyncio's own loop does at about 1.4x
        # uvloop's CPU (PERFORMANCE in strangler_proxy/README.md).
        loop=loop,
        workers=workers,
        http1_settings=HTTP1Settings(header_read_timeout=int(header_timeout * 1000)),
        log_level=LogLevels.warning,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
        websockets=False,
    ).serve()
    return 0


if __name__ == "__main__":
    # main() from the module granian's workers import (`strangler_proxy.serve:worker_application`),
    # not from this `__main__` copy of it: a worker's stop state (`_stop_asked`) set by the handler
    # it inherits must be the one worker_application reads.
    from strangler_proxy.serve import main as _main

    sys.exit(_main())
