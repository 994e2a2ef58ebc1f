"""A steady GET load that records which side answered each request (the upstream's
`X-Upstream` header) and every failure: the witness of a route flip that loses nothing."""

from __future__ import annotations

import threading
import time

import urllib3

from tests.support.wait import wait_for


class SideLoad:
    """`with SideLoad(url) as load:` GETs `url` from `threads` threads until the block ends.

    `fresh_connections`: a new connection per request (a reload of nginx closes idle kept-alive
    connections, and a request racing that close is one HTTP clients retry, RFC 9112 9.3.1).
    `settle`: the window `wait_until_all` looks at, longer than the route table's reload.
    """

    def __init__(
        self, url: str, *, threads: int = 4, settle: float = 0.5, fresh_connections: bool = False
    ):
        self.url = url
        self.settle = settle
        self.headers = {"Connection": "close"} if fresh_connections else {}
        self.failures: list[str] = []
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._load) for _ in range(threads)]

    def _load(self) -> None:
        http = urllib3.PoolManager(maxsize=2, retries=False, timeout=10)
        while not self._stop.is_set():
            try:
                response = http.request("GET", self.url, headers=self.headers)
            except urllib3.exceptions.HTTPError as exc:
                self.failures.append(repr(exc))
                continue
            if response.status != 200:
                self.failures.append(f"{response.status} {response.data[:200]!r}")
            self.seen.append(response.headers.get("X-Upstream", "?"))

    def wait_until_all(self, side: str) -> None:
        """Until every answer in one window came from `side`."""

        def window_all_on_side() -> bool:
            mark = len(self.seen)
            time.sleep(self.settle)
            return bool(self.seen[mark:]) and set(self.seen[mark:]) == {side}

        wait_for(window_all_on_side, timeout=30, interval=0, what=f"traffic all on {side}")

    def __enter__(self) -> SideLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
