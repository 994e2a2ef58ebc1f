"""`make bench-functions`: the order-email function's cold start, measured locally.

For each runtime, N times (default 5): a fresh process is started and one order event is
delivered as soon as it can take it; the figure is process start to that event handled (the
email accepted by a local SMTP server). Runtimes:
  * functions-framework (the Cloud Run functions server; gunicorn), binary-mode CloudEvent;
  * awslambdaric (AWS's Lambda runtime client, what a container image runs), one SQS batch
    through a local Runtime API;
  * import + invoke: a bare `python -c` that imports the Lambda handler and calls it once (what a
    managed runtime does after its own start);
  * a bare `python -c pass`, the interpreter alone, for scale.
Then the warm figure: p50 of 50 more events to the last functions-framework process.
A real platform adds its own share (fetching the package, starting the sandbox), which this
cannot see: these are the part the code controls. The ledger is an SQLite file unless
--database-url names a PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from functions.order_email.runtime import handler_from_env  # noqa: E402
from tests.functions.builders import customer_json, placed_json  # noqa: E402
from tests.functions.cloud_events import framework_command, post_binary  # noqa: E402
from tests.support.lambda_runtime_api import runtime_api_start, sqs_event  # noqa: E402
from tests.support.processes import free_port, stop_process  # noqa: E402
from tests.support.smtp_sink import smtp_sink  # noqa: E402

ORDER = iter(range(1000, 10**6))


def framework_cold(env: dict[str, str]) -> tuple[float, str, subprocess.Popen]:
    """Seconds from Popen to the first event answered 200; the running server and its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    process = subprocess.Popen(
        framework_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _, placed = placed_json(next(ORDER))
    while True:
        try:
            response = post_binary(url, placed)
        except urllib3.exceptions.HTTPError:
            time.sleep(0.005)
            continue
        if response.status != 200:
            raise RuntimeError(f"functions-framework answered {response.status}: {response.data}")
        return time.perf_counter() - started, url, process


def lambda_cold(env: dict[str, str]) -> float:
    api, server = runtime_api_start()
    _, placed = placed_json(next(ORDER))
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", "functions.order_email.aws.handler"],
        cwd=ROOT,
        env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        answer = api.invoke(sqs_event([("m-1", placed)]))
        assert answer.body == {"batchItemFailures": []}, answer.body
        return answer.answered_at - started
    finally:
        stop_process(process, timeout=5)
        server.shutdown()


def import_and_invoke(env: dict[str, str]) -> float:
    _, placed = placed_json(next(ORDER))
    probe = (
        "import json, sys; from functions.order_email.aws import handler;"
        "print(json.dumps(handler(json.loads(sys.argv[1]), None)))"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sqs_event([("m-1", placed)]))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.perf_counter() - started
    assert json.loads(out) == {"batchItemFailures": []}, out
    return elapsed


def bare_python() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def line(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (
        f"{name:<34} median {statistics.median(ms):7.0f} ms   min {ms[0]:7.0f}   "
        f"max {ms[-1]:7.0f}   (n={len(ms)})"
    )


# The figures `measure` returns, each a list of seconds.
FRAMEWORK = "functions-framework (gunicorn)"
LAMBDA_RIC = "awslambdaric (Runtime API)"
IMPORTED = "python -c: import + invoke"
BARE = "python -c pass (interpreter)"
WARM = "warm, functions-framework, 1 event"


def measure(
    runs: int, *, warm: int = 50, database_url: str = "", every_runtime: bool = True
) -> tuple[dict[str, list[float]], int]:
    """Each runtime's cold start `runs` times, then `warm` events to the last functions-framework
    process; with `every_runtime` False, functions-framework only (`make cost`'s row). Returns
    the seconds of each, and the emails the SMTP sink accepted."""
    with smtp_sink() as sink, tempfile.TemporaryDirectory() as folder:
        function_env = {
            "ORDER_EMAIL_DATABASE_URL": database_url or f"sqlite:///{folder}/ledger.sqlite3",
            "ORDER_EMAIL_SMTP_URL": sink.url,
            "NOTIFICATIONS_ORDER_EMAIL": "function",
            "DEFAULT_FROM_EMAIL": "shop@strangler.local",
        }
        env = {**os.environ, **function_env}
        seeding = handler_from_env(function_env)
        seeding.handle(customer_json())
        seeding.ledger.close()

        seconds: dict[str, list[float]] = {FRAMEWORK: []}
        if every_runtime:
            seconds |= {LAMBDA_RIC: [], IMPORTED: [], BARE: []}
        process = None
        try:
            for _ in range(runs):
                if process is not None:
                    stop_process(process)
                cold, url, process = framework_cold(env)
                seconds[FRAMEWORK].append(cold)
                if every_runtime:
                    seconds[LAMBDA_RIC].append(lambda_cold(env))
                    seconds[IMPORTED].append(import_and_invoke(env))
                    seconds[BARE].append(bare_python())
            seconds[WARM] = []
            for _ in range(warm):
                _, placed = placed_json(next(ORDER))
                started = time.perf_counter()
                assert post_binary(url, placed).status == 200
                seconds[WARM].append(time.perf_counter() - started)
        finally:
            if process is not None:
                stop_process(process)
        return seconds, len(sink.received())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    seconds, sent = measure(args.runs, database_url=args.database_url)
    print("cold start: process start -> first order event handled (email accepted by SMTP)")
    for name, values in seconds.items():
        print(line(name, values))
    print(f"emails accepted by the SMTP sink: {sent}")


if __name__ == "__main__":
    main()
