"""Evidence from the nginx plane: its JSON access log (export/nginx.py's `strangler_json` format)
counted into the same typed counters the Python proxy's metrics give (evidence.py), so the
lifecycle gates judge a candidate by the traffic nginx served.

Each line names the route and the side (primary, candidate) that served it; the side's upstream
comes from the route table as it is when the line is read. A request the candidate's location
sent on to its fallback (nginx's `backup` server, or the fallback location after a write that
never left) counts as a fallback of the candidate, as the Python proxy counts it. Counters are
totals over the file from its start, so a restarted reader gives the same numbers; a rotated or
truncated file starts them again, which evidence.delta() takes as a counter reset.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client.utils import floatToGoString

from servicekit.web.metrics import LATENCY_BUCKETS
from strangler_proxy.export.nginx import hostport
from strangler_proxy.lifecycle.evidence import Counter, Snapshot, counter_key, summed
from strangler_proxy.routes.model import RouteTable

logger = logging.getLogger("strangler_proxy.lifecycle")

_SPLIT = re.compile(r"\s*[,:]\s+")  # nginx joins tries with ", " and redirects with " : "
_BOUNDS = [*LATENCY_BUCKETS, float("inf")]


def _addresses(field: str) -> list[str]:
    return [a for a in _SPLIT.split(field or "") if a and a != "-"]


def _hostports(instances: tuple[str, ...]) -> set[str]:
    """As nginx logs an upstream server: `host:port` (the export's own upstream lines)."""
    return {hostport(url)[1] for url in instances}


class AccessLogCounters:
    """`read()` -> Snapshot: the counters over every line of the log so far (incremental)."""

    def __init__(self, path: str | os.PathLike[str], table: Callable[[], RouteTable]):
        self.path = Path(path)
        self.table = table
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self._inode = inode
        self._offset = 0
        self._partial = b""
        self._counts: Snapshot = {}

    def read(self) -> Snapshot:
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                return dict(self._counts)
            if stat.st_ino != self._inode or stat.st_size < self._offset:
                self._reset(stat.st_ino)
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
            self._offset += len(data)
            data = self._partial + data
            lines = data.split(b"\n")
            self._partial = lines.pop()  # a line nginx is still writing
            table = self.table()
            for line in lines:
                if line.strip():
                    self._count(line, table)
            return dict(self._counts)

    __call__ = read

    def _add(self, key: str, value: float = 1.0) -> None:
        self._counts[key] = self._counts.get(key, 0.0) + value

    def _count(self, line: bytes, table: RouteTable) -> None:
        try:
            entry = json.loads(line)
            name, side = entry["route"], entry["side"]
            status, seconds = int(entry["status"]), float(entry["duration"])
        except (ValueError, KeyError, TypeError):
            logger.warning("nginx access log: a line that is not strangler_json: %.200r", line)
            return
        try:
            route = table.route(name)
        except KeyError:
            return  # the default upstream, the plane's own answers, or a route since removed
        primary = table.default_upstream
        upstream = (route.upstream or primary) if side == "candidate" else primary
        if side == "candidate" and route.fallback and self._fell_back(entry, table, route):
            self._add(counter_key(Counter.FALLBACKS, name, upstream))
            self._add(counter_key(Counter.REQUESTS, name, route.fallback, str(status)))
            return
        if side not in ("primary", "candidate"):
            return
        self._add(counter_key(Counter.REQUESTS, name, upstream, str(status)))
        for bound in _BOUNDS:  # cumulative, as a Prometheus histogram's buckets
            if seconds <= bound:
                self._add(counter_key(Counter.LATENCY, name, upstream, floatToGoString(bound)))

    @staticmethod
    def _fell_back(entry: dict, table: RouteTable, route) -> bool:
        """The last server nginx tried is one of the fallback's, not the candidate's."""
        tried = _addresses(entry.get("upstream", ""))
        if not tried:
            return False
        candidate = _hostports(table.upstreams[route.upstream].instances)
        fallback = _hostports(table.upstreams[route.fallback].instances)
        return tried[-1] in fallback and tried[-1] not in candidate


def combined(*reads: Callable[[], Snapshot]) -> Callable[[], Snapshot]:
    """One snapshot summed over several sources (the Python proxy's metrics and nginx's log)."""

    def read() -> Snapshot:
        return summed(*(one() for one in reads))

    return read
