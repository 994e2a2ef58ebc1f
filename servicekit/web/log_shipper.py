"""`python -m servicekit.web.log_shipper`: our processes' log files, line by line, to Loki's push API.

Every process of ours writes one JSON object per line on stdout (servicekit.web.logging); a
supervisor (`make run`'s, compose, systemd) sends it to a file or the container log. This process tails
those files and pushes each new line to `POST /loki/api/v1/push`, the way promtail does (compose
runs promtail itself: deploy/promtail/config.yaml). Labels stay few, as Loki wants them: `job`,
`process`, and the line's own `service` and `level`; everything else (request_id, route, event
ids) stays in the line, for LogQL's `| json | request_id="..."`.

    python -m servicekit.web.log_shipper --url http://127.0.0.1:3100 \\
        --file proxy=var/log/proxy.log --file monolith=var/log/monolith.log

Lines that are not JSON (a traceback from a crash before logging is set up) are shipped too,
labelled with the process only. A failed push is retried with the one backoff; lines read
meanwhile wait in memory (at most `--max-pending` lines; the oldest are dropped past that and
counted on stderr). Offsets are kept in memory only: a restarted shipper starts at the files' end
unless `--from-start`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from servicekit.web.backoff import backoff_delay

PUSH_PATH = "/loki/api/v1/push"
JOB = "strangler"


@dataclass
class Tail:
    """New complete lines of one file; survives the file appearing late or being truncated."""

    process: str
    path: Path
    offset: int = 0
    partial: bytes = b""

    def skip_to_end(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def read_lines(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated or replaced: start again
            self.offset, self.partial = 0, b""
        if size == self.offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read(size - self.offset)
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines if line.strip()]


def labels_of(process: str, line: str) -> dict[str, str]:
    """Loki stream labels for one line: few values each (never a request id)."""
    labels = {"job": JOB, "process": process}
    try:
        record = json.loads(line)
    except ValueError:
        return labels
    if isinstance(record, dict):
        for key in ("service", "level"):
            if isinstance(record.get(key), str):
                labels[key] = record[key]
    return labels


@dataclass
class Batcher:
    """Lines grouped into Loki streams, each timestamp strictly after the stream's last one."""

    max_pending: int = 100_000
    pending: deque = field(default_factory=deque)
    dropped: int = 0
    _last_ns: dict[tuple, int] = field(default_factory=dict)

    def add(self, process: str, line: str) -> None:
        labels = labels_of(process, line)
        key = tuple(sorted(labels.items()))
        ns = max(time.time_ns(), self._last_ns.get(key, 0) + 1)
        self._last_ns[key] = ns
        if len(self.pending) >= self.max_pending:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append((key, ns, line))

    def payload(self, limit: int) -> tuple[bytes, int]:
        """The push body for the oldest `limit` pending lines, and how many it holds."""
        streams: dict[tuple, list[list[str]]] = {}
        count = 0
        for key, ns, line in self.pending:
            if count == limit:
                break
            streams.setdefault(key, []).append([str(ns), line])
            count += 1
        body = {"streams": [{"stream": dict(k), "values": v} for k, v in streams.items()]}
        return json.dumps(body).encode(), count

    def sent(self, count: int) -> None:
        for _ in range(count):
            self.pending.popleft()


def push(url: str, body: bytes, *, timeout: float = 5.0) -> None:
    """One push; raises OSError (urllib's errors are OSErrors) unless Loki answers 2xx."""
    request = urllib.request.Request(  # noqa: S310 (the operator's Loki URL)
        url.rstrip("/") + PUSH_PATH,
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our URL)
        response.read()


class Shipper:
    def __init__(
        self, url: str, tails: list[Tail], *, batch: int = 1000, max_pending: int = 100_000
    ):
        self.url = url
        self.tails = tails
        self.batch = batch
        self.batcher = Batcher(max_pending=max_pending)
        self.failures = 0

    def poll(self) -> int:
        """Reads every file once and pushes what is pending; returns the lines pushed."""
        for tail in self.tails:
            for line in tail.read_lines():
                self.batcher.add(tail.process, line)
        pushed = 0
        while self.batcher.pending:
            body, count = self.batcher.payload(self.batch)
            try:
                push(self.url, body)
            except OSError as exc:
                self.failures += 1
                print(f"log_shipper: push failed ({exc!r}); will retry", file=sys.stderr)
                return pushed
            self.failures = 0
            self.batcher.sent(count)
            pushed += count
        return pushed

    def run(self, *, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll()
            delay = backoff_delay(self.failures, base=interval, cap=30.0) if self.failures else 0
            stop.wait(max(interval, delay))
        self.poll()  # what was written before the stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Loki's base URL, e.g. http://127.0.0.1:3100")
    parser.add_argument(
        "--file", action="append", default=[], metavar="PROCESS=PATH", help="repeat per process"
    )
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--max-pending", type=int, default=100_000)
    parser.add_argument("--from-start", action="store_true", help="ship what the files hold")
    args = parser.parse_args(argv)
    tails = []
    for spec in args.file:
        process, sep, path = spec.partition("=")
        if not sep or not process or not path:
            parser.error(f"--file {spec!r}: expected PROCESS=PATH")
        tail = Tail(process, Path(path))
        if not args.from_start:
            tail.skip_to_end()
        tails.append(tail)
    if not tails:
        parser.error("no --file given")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    shipper = Shipper(args.url, tails, batch=args.batch, max_pending=args.max_pending)
    shipper.run(interval=args.interval, stop=stop)
    if shipper.batcher.dropped:
        print(f"log_shipper: dropped {shipper.batcher.dropped} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
