"""ZooKeeper registry (kazoo): instances register ephemeral nodes that vanish when they die."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import ClassVar

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError


class ZooKeeperRegistry:
    """Watches `<root>/services/<service>/`; each child's data is `{"url": "http://host:port"}`."""

    _shared: ClassVar[dict[tuple[str, str], ZooKeeperRegistry]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, hosts: str, *, root: str = "/strangler", timeout: float = 5.0):
        self.root = root.rstrip("/")
        self.client = KazooClient(hosts=hosts, timeout=timeout)
        self.client.start(timeout=timeout)
        self._watched: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, hosts: str, *, root: str = "/strangler") -> ZooKeeperRegistry:
        """One connection per process and ensemble (call after fork, e.g. in a worker)."""
        with cls._shared_lock:
            key = (hosts, root)
            if key not in cls._shared:
                cls._shared[key] = cls(hosts, root=root)
            return cls._shared[key]

    @classmethod
    def close_shared(cls) -> None:
        with cls._shared_lock:
            for registry in cls._shared.values():
                registry.close()
            cls._shared.clear()

    def _path(self, service: str) -> str:
        return f"{self.root}/services/{service}"

    def register(self, service: str, url: str) -> str:
        """An ephemeral, sequential node for this instance; it lives as long as this session."""
        self.client.ensure_path(self._path(service))
        data = json.dumps({"url": url.rstrip("/")}).encode()
        return self.client.create(
            f"{self._path(service)}/instance-", data, ephemeral=True, sequence=True
        )

    def deregister(self, node: str) -> None:
        with contextlib.suppress(NoNodeError):
            self.client.delete(node)

    def _read(self, service: str, children: list[str]) -> list[str]:
        urls = []
        for child in sorted(children):
            try:
                data, _stat = self.client.get(f"{self._path(service)}/{child}")
            except NoNodeError:
                continue
            try:
                urls.append(json.loads(data)["url"])
            except (ValueError, KeyError, TypeError):
                continue
        return urls

    def instances(self, service: str) -> list[str]:
        with self._lock:
            if service not in self._watched:
                self.client.ensure_path(self._path(service))
                self._watched[service] = []

                def on_change(children: list[str]) -> None:
                    self._watched[service] = self._read(service, children)

                self.client.ChildrenWatch(self._path(service), on_change)
            return list(self._watched[service])

    def close(self) -> None:
        self.client.stop()
        self.client.close()
