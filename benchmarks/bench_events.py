"""`make bench-events`: relay throughput and commit-to-applied lag, against a raw baseline.

Needs PostgreSQL and RabbitMQ (defaults: the local servers). Uses a database, exchanges and
queues of its own run (`strangler_bench_<run>`, `bench.copy.<run>`: two benches at once do not
meet), deleted afterwards. Prints:
  * throughput: a backlog of committed outbox rows (default 50,000) to consumer-applied, events/s;
  * lag: commit to applied, p50/p99, at a steady 500 events/s;
each next to a raw baseline measured in the same run (psycopg + kombu, no ORM, no inbox); both
measured on a warm pipeline: its relay and consumer running and one warm-up event through them
before the clock starts, a backlog committed at once;
  * CPU time per event of the relay and consumer processes (robust on a busy machine).
Each figure is the median of `--runs` runs (default 3); ratios are taken within a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/strangler")
AMQP = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# One run's own names (its relay and consumer processes inherit the variable): two benches run
# at once, or one beside a test suite, share neither a database, a queue nor an exchange.
RUN = os.environ.setdefault("BENCH_EVENTS_RUN", uuid.uuid4().hex[:8])
BENCH_DB = f"strangler_bench_{RUN}"
BENCH_URL = PG.rsplit("/", 1)[0] + "/" + BENCH_DB
CONSUMER = f"bench.copy.{RUN}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# raw baseline -----------------------------------------------------------------------------------
def raw_run(*, backlog: int, rate: int, seconds: float, notify: bool) -> dict:
    """psycopg + kombu: a table, a relay thread (SKIP LOCKED batches), a consumer thread."""
    import psycopg
    from kombu import Connection, Consumer, Exchange, Producer, Queue

    tag = uuid.uuid4().hex[:8]
    exchange = Exchange(f"bench.raw.{tag}", type="topic", durable=False)
    queue = Queue(f"bench.raw.{tag}", exchange=exchange, routing_key="#", durable=False)
    db = psycopg.connect(BENCH_URL, autocommit=True)
    db.execute("DROP TABLE IF EXISTS raw_outbox")
    db.execute(
        "CREATE TABLE raw_outbox (id bigserial PRIMARY KEY, body jsonb, "
        "committed double precision, sent boolean DEFAULT false)"
    )
    received: dict[int, float] = {}
    stop = threading.Event()

    def relay() -> None:
        conn = psycopg.connect(BENCH_URL)
        listen = psycopg.connect(BENCH_URL, autocommit=True)
        listen.execute("LISTEN raw_outbox")
        with Connection(AMQP) as broker:
            producer = Producer(broker.channel(), exchange=exchange)
            while not stop.is_set():
                with conn.transaction():
                    rows = conn.execute(
                        "SELECT id, body FROM raw_outbox WHERE NOT sent ORDER BY id "
                        "LIMIT 500 FOR UPDATE SKIP LOCKED"
                    ).fetchall()
                    for row_id, body in rows:
                        producer.publish(
                            json.dumps({"id": row_id, **body}),
                            routing_key="e",
                            content_type="application/json",
                            content_encoding="utf-8",
                            retry=False,
                        )
                    if rows:
                        conn.execute(
                            "UPDATE raw_outbox SET sent = true WHERE id = ANY(%s)",
                            [[r[0] for r in rows]],
                        )
                if not rows:
                    if notify:
                        for _ in listen.notifies(timeout=0.5, stop_after=1):
                            break
                    else:
                        time.sleep(0.05)

    def consume(ready: threading.Event) -> None:
        with Connection(AMQP) as broker:
            channel = broker.channel()
            queue(channel).declare()

            def on_message(body, message):
                received[body["id"]] = time.time()
                message.ack()

            with Consumer(
                channel, [queue], callbacks=[on_message], accept=["json"], prefetch_count=500
            ):
                ready.set()
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        broker.drain_events(timeout=0.2)
            queue(channel).delete()

    ready = threading.Event()
    threads = [threading.Thread(target=consume, args=(ready,), daemon=True)]
    threads[0].start()
    if not ready.wait(120):  # a busy machine: publishing before the queue exists loses events
        raise RuntimeError("the raw consumer did not declare its queue within 120 s")
    threads.append(threading.Thread(target=relay, daemon=True))
    threads[-1].start()

    def wait_received(count: int, timeout: float) -> bool:
        deadline = time.time() + timeout
        while len(received) < count:
            if not threads[0].is_alive():  # its broker connection failed: fail, do not hang
                raise RuntimeError(f"the raw consumer stopped after {len(received)} events")
            if time.time() > deadline:
                return False
            time.sleep(0.01)
        return True

    # Warm-up: one event through the running pipeline before the clock starts (as for the full
    # path, whose processes start first), then left out of every figure.
    _raw_insert(db, -1)
    if not wait_received(1, 120):
        raise RuntimeError("the raw warm-up event did not arrive within 120 s")
    result = {}
    if backlog:
        with db.transaction():  # the backlog appears at once, at commit, and wakes the relay
            with db.cursor() as cur, cur.copy("COPY raw_outbox (body, committed) FROM STDIN") as cp:
                for i in range(backlog):
                    cp.write_row([json.dumps({"i": i}), 0.0])
            db.execute("NOTIFY raw_outbox")
        start = time.time()
        wait_received(backlog + 1, float("inf"))
        result["throughput"] = backlog / (time.time() - start)
    else:
        committed = produce_steady(rate, seconds, lambda i: _raw_insert(db, i))
        wait_received(len(committed) + 1, 30)
        ids = dict(db.execute("SELECT id, (body->>'i')::int FROM raw_outbox").fetchall())
        lags = [
            (received[row_id] - committed[i]) * 1000
            for row_id, i in ids.items()
            if row_id in received and i in committed  # not the warm-up (-1)
        ]
        result["p50"], result["p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
    stop.set()
    for thread in threads:
        thread.join(5)
    db.execute("DROP TABLE raw_outbox")
    return result


def _raw_insert(db, i: int) -> None:
    with db.transaction():
        db.execute(
            "INSERT INTO raw_outbox (body, committed) VALUES (%s, 0)", [json.dumps({"i": i})]
        )
        db.execute("NOTIFY raw_outbox")


def produce_steady(rate: int, seconds: float, write) -> dict[int, float]:
    """Call write(i) at `rate` per second; returns commit time per i."""
    committed: dict[int, float] = {}
    start = time.time()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        write(i)
        committed[i] = time.time()
    return committed


# full path --------------------------------------------------------------------------------------
def setup_django(events: dict) -> None:
    os.environ["DATABASE_URL"] = BENCH_URL
    # The monolith's own database is the bench's (not `strangler_bench_monolith`).
    os.environ["MONOLITH_DATABASE_URL"] = BENCH_URL
    os.environ["CELERY_BROKER_URL"] = AMQP
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.conf import settings

    settings.SERVICEKIT_EVENTS = events
    django.setup()


def register_consumer():
    from django.db import connection

    from contracts.catalog import ProductPriceChangedV1
    from contracts.registry import EVENT_TYPES
    from servicekit.events.inbox.registry import EventConsumer

    consumer = EventConsumer(CONSUMER, event_types=EVENT_TYPES)

    @consumer.on(ProductPriceChangedV1)
    def price_changed(event, envelope) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_copy (sku, price) VALUES (%s, %s) "
                "ON CONFLICT (sku) DO UPDATE SET price = excluded.price",
                [event.sku, event.new_price],
            )

    return consumer


class PhaseTimer:
    """`--phases`: wraps a child's functions and prints each one's call count and timings."""

    def __init__(self, role: str):
        self.role = role
        self.samples: dict[str, list[float]] = {}

    def wrap(self, owner, name: str, label: str | None = None) -> None:
        original = getattr(owner, name)
        samples = self.samples.setdefault(label or name, [])

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                samples.append((time.perf_counter() - began) * 1000)

        setattr(owner, name, timed)

    def report(self) -> None:
        for label, values in self.samples.items():
            if values:
                print(
                    f"[{self.role}] {label:<14} n={len(values):6d} total={sum(values):8.0f} ms "
                    f"p50={percentile(values, 0.5):6.2f} p90={percentile(values, 0.9):6.2f} "
                    f"p99={percentile(values, 0.99):6.2f} ms",
                    file=sys.stderr,
                    flush=True,
                )


def child(role: str, events: dict) -> None:
    setup_django(events)
    from servicekit.web.commands import stop_on_signals

    stop = stop_on_signals()
    timer = PhaseTimer(role) if os.environ.get("BENCH_PHASES") else None
    profile_dir = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_dir:
        import cProfile

        # CPU time, not wall clock: waiting on a socket is not what the process spends
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    counted: list[int] = []
    cpu = time.process_time()
    try:
        _run_child(role, stop, timer, counted)
    finally:
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_dir, f"{role}-{os.getpid()}.prof"))
        if timer:
            timer.report()
        if counted and counted[0] and os.environ.get("BENCH_CPU_FILE"):
            # CPU time of this process per event (not wall clock): robust on a busy machine.
            with open(os.environ["BENCH_CPU_FILE"], "a") as out:
                out.write(json.dumps({"role": role, "us": cpu * 1e6 / counted[0]}) + "\n")


def _run_child(role: str, stop, timer: PhaseTimer | None, counted: list[int]) -> None:
    from servicekit.web.commands import freeze_startup_heap

    if role == "relay":
        from servicekit.events.broker.kombu import publisher_from_settings
        from servicekit.events.relay import claims
        from servicekit.events.relay.relay import Relay, RelayConfig, waker_for_default_database

        publisher = publisher_from_settings()
        relay = Relay(publisher=publisher, config=RelayConfig.from_settings())
        waker = waker_for_default_database(0.05)
        if timer:
            timer.wrap(relay, "_step", "round")
            timer.wrap(claims, "claim_batch", "claim")
            timer.wrap(claims, "mark_sent_and_claim", "mark+claim")
            timer.wrap(publisher, "send")
            timer.wrap(publisher, "confirm")
            timer.wrap(claims, "mark_sent")
            timer.wrap(waker, "wait")
        freeze_startup_heap()  # as `manage.py outbox_relay` does
        try:
            relay.run(waker=waker, stop=stop)
        finally:
            counted.append(relay.published)
    else:
        from servicekit.events.inbox.worker import worker_from_settings

        register_consumer()
        worker = worker_from_settings(CONSUMER)
        if timer:
            timer.wrap(worker, "_flush", "flush")
            timer.wrap(worker.processor, "process")
        process = worker.processor.process

        def counting(envelopes):
            process(envelopes)
            counted[:] = [(counted[0] if counted else 0) + len(envelopes)]

        worker.processor.process = counting
        freeze_startup_heap()  # as `manage.py inbox_consume` does
        worker.run(stop=stop)


def full_run(*, events: dict, backlog: int, rate: int, seconds: float) -> dict:
    from django.db import connection, transaction

    from contracts.catalog import ProductPriceChangedV1
    from servicekit.events.inbox.models import InboxMessage
    from servicekit.events.outbox import outbox_enqueue
    from servicekit.events.outbox.models import OutboxMessage

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE servicekit_outbox_message, servicekit_outbox_sequence, "
            "servicekit_inbox_message, servicekit_inbox_cursor, servicekit_inbox_parked"
        )
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (sku varchar(50) PRIMARY KEY, price varchar(20))")

    def enqueue(i: int) -> None:
        outbox_enqueue(
            ProductPriceChangedV1(
                sku=f"S{i % 5000}" if i >= 0 else "WARM-UP",  # -1: the warm-up event
                old_price="1.00",
                new_price=f"{max(i, 1)}.00",
                currency="EUR",
            )
        )

    cpu_file = Path(tempfile.mkdtemp(prefix="bench-events-")) / "cpu.jsonl"
    env = {**os.environ, "BENCH_EVENTS": json.dumps(events), "BENCH_CPU_FILE": str(cpu_file)}
    procs = [
        subprocess.Popen([sys.executable, __file__, "--role", role], env=env)
        for role in ("consume", "relay")
    ]

    def wait_applied(count: int, timeout: float, every: float = 0.02) -> bool:
        deadline = time.time() + timeout
        while InboxMessage.objects.count() < count:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a relay or consumer process of the bench exited")
            if time.time() > deadline:
                return False
            time.sleep(every)
        return True

    result = {}
    try:
        # Warm-up: both processes started, the topology declared, one event applied, before
        # the clock starts (a process's start is not the pipeline's speed; on a busy machine it
        # took seconds); left out of every figure.
        with transaction.atomic():
            enqueue(-1)
        if not wait_applied(1, 120):
            raise RuntimeError("the warm-up event was not applied within 120 s")
        warm_up = set(OutboxMessage.objects.values_list("event_id", flat=True))
        if backlog:
            with transaction.atomic():  # the backlog appears at once, at commit (one NOTIFY)
                for i in range(backlog):
                    enqueue(i)
            began = time.time()
            # (counting tens of thousands of rows costs the database a few ms: not too often)
            wait_applied(backlog + 1, float("inf"), every=0.1)
            result["throughput"] = backlog / (time.time() - began)
        else:

            def write(i: int) -> None:
                with transaction.atomic():
                    enqueue(i)

            committed_times = produce_steady(rate, seconds, write)
            wait_applied(len(committed_times) + 1, 30)
            occurred = {
                event_id: at
                for event_id, at in OutboxMessage.objects.values_list("event_id", "occurred_at")
                if event_id not in warm_up
            }
            # (an event of an earlier run redelivered after its consumer stopped is not counted)
            lags = [
                (applied - occurred[event_id]).total_seconds() * 1000
                for event_id, applied in InboxMessage.objects.values_list("event_id", "applied_at")
                if event_id in occurred
            ]
            result["p50"], result["p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
            result["applied"] = len(lags)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    if cpu_file.exists():
        for line in cpu_file.read_text().splitlines():
            figure = json.loads(line)
            result[f"cpu_{figure['role']}"] = figure["us"]
        cpu_file.unlink()
    cpu_file.parent.rmdir()
    return result


def create_database() -> None:
    import psycopg

    with psycopg.connect(PG.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database() -> None:
    """The run's database dropped (its connections closed first, Django's and any left)."""
    import psycopg

    if "django.db" in sys.modules:
        from django.db import connections

        with contextlib.suppress(Exception):  # (settings never loaded: nothing to close)
            connections.close_all()
    with psycopg.connect(PG.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--role", choices=["relay", "consume"], default=None)
    parser.add_argument("--runs", type=int, default=3, help="prints the median of this many runs")
    parser.add_argument(
        "--only", choices=["throughput", "lag"], default=None, help="skip the other measurement"
    )
    parser.add_argument(
        "--phases", action="store_true", help="relay and consumer print their phase timings"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="relay and consumer write cProfile stats (CPU time) to DIR"
    )
    args = parser.parse_args()
    if args.role:
        child(args.role, json.loads(os.environ["BENCH_EVENTS"]))
        return
    if args.phases:
        os.environ["BENCH_PHASES"] = "1"
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        os.environ["BENCH_PROFILE"] = os.path.abspath(args.profile)

    create_database()
    try:
        measure(args)
    finally:
        drop_database()


def measure(args) -> None:
    events = {
        "SERVICE": "bench",
        "EXCHANGE": f"bench.events.{RUN}",
        "SUBSCRIPTIONS": {CONSUMER: ["catalog.#"]},
        "RELAY_BATCH_SIZE": 500,
        "INBOX_BATCH_SIZE": 500,
        "INBOX_PREFETCH": 1000,
    }
    setup_django(events)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    print(
        f"backlog {args.backlog} events; steady {args.rate}/s for {args.seconds:.0f} s; "
        f"median of {args.runs} runs",
        flush=True,
    )
    runs = []
    try:
        for number in range(1, args.runs + 1):
            runs.append(one_run(events, args))
            print(f"run {number}: " + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1].items()))
    finally:
        try:
            from kombu import Connection

            from servicekit.events.broker.topology import delete_topology

            with Connection(AMQP) as conn:
                delete_topology(
                    conn, exchange_name=events["EXCHANGE"], subscriptions=events["SUBSCRIPTIONS"]
                )
        except Exception as exc:
            print(f"(could not delete the bench topology: {exc!r})")
    report(runs, args)


def one_run(events: dict, args) -> dict[str, float]:
    """One of each measurement; ratios are taken within the run (same machine state)."""
    figures: dict[str, float] = {}
    if args.only != "lag":
        raw = raw_run(backlog=args.backlog, rate=0, seconds=0, notify=True)
        full = full_run(events=events, backlog=args.backlog, rate=0, seconds=0)
        figures["raw_tp"], figures["full_tp"] = raw["throughput"], full["throughput"]
        figures["tp_ratio"] = full["throughput"] / raw["throughput"]
        for role in ("consume", "relay"):
            if f"cpu_{role}" in full:
                figures[f"cpu_{role}"] = full[f"cpu_{role}"]
    if args.only != "throughput":
        raw_poll = raw_run(backlog=0, rate=args.rate, seconds=args.seconds, notify=False)
        raw_lag = raw_run(backlog=0, rate=args.rate, seconds=args.seconds, notify=True)
        full = full_run(events=events, backlog=0, rate=args.rate, seconds=args.seconds)
        for name, result in (("raw_poll", raw_poll), ("raw", raw_lag), ("full", full)):
            for q in ("p50", "p99"):
                figures[f"{name}_{q}"] = result[q]
        figures["applied"] = full["applied"]
    return figures


def report(runs: list[dict[str, float]], args) -> None:
    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    print(f"\nmedian of {len(runs)} runs         raw baseline      strangler (full path)    ratio")
    if "raw_tp" in runs[0]:
        print(
            f"throughput (events/s)     {median('raw_tp'):12.0f}      {median('full_tp'):12.0f}"
            f"             {median('tp_ratio'):5.2f}   (target >= 0.50)"
        )
        for role, label in (("consume", "consumer"), ("relay", "relay")):
            if all(f"cpu_{role}" in run for run in runs):
                print(
                    f"{label} CPU per event (us)                 {median(f'cpu_{role}'):12.0f}"
                    "             (its process, backlog run)"
                )
    if "raw_p50" not in runs[0]:
        return
    for q in ("p50", "p99"):
        target = "   (target p99 <= 25 ms)" if q == "p99" else ""
        print(
            f"lag {q} (ms)              {median(f'raw_{q}'):12.1f}      {median(f'full_{q}'):12.1f}"
            f"             {median(f'full_{q}') / median(f'raw_{q}'):5.2f}{target}"
        )
    print(
        f"raw baseline with 50 ms polling instead of LISTEN/NOTIFY: p50 "
        f"{median('raw_poll_p50'):.1f} ms, p99 {median('raw_poll_p99'):.1f} ms"
    )
    print(
        f"full path applied {min(run['applied'] for run in runs):.0f} (fewest of the runs) of "
        f"{int(args.rate * args.seconds)} steady-rate events"
    )


if __name__ == "__main__":
    main()
