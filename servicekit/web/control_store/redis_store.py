"""The Redis backend: versioned documents with compare-and-set writes, a push to every replica
(pub/sub, with a poll behind it), replica heartbeats naming the applied version, and leases.

Keys, under the deployment's prefix `P` (CACHE_KEY_PREFIX):
    P:control:doc:<name>            hash {text, version}
    P:control:changed               pub/sub channel, message "<name> <version>"
    P:control:ack:<name>:<replica>  the version that replica applied (expires after the TTL)
    P:control:lease:<name>          the lease holder (expires after the TTL unless renewed)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from servicekit.web.backoff import backoff_delay
from servicekit.web.control_store.base import Applied, Apply, ReplicasLagging, Versioned, replica_id
from servicekit.web.tls.stores import redis_options

logger = logging.getLogger("servicekit.control_store")
T = TypeVar("T")

# Seeds a missing document from its file in one step, so two replicas starting together agree.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 0 and ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'text', ARGV[2], 'version', 1)
end
return redis.call('HMGET', KEYS[1], 'text', 'version')
"""
# Take the lease when free, renew it when ours: 1 while we hold it, else 0.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """One per process and (url, prefix): the client, and one follower thread per document."""

    def __init__(self, url: str, *, prefix: str, ttl: float, wait: float, poll: float = 1.0):
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=5,
            socket_connect_timeout=2,
            **redis_options(url, store="Redis (STRANGLER_CONTROL_STORE)"),
        )
        self.url = url
        self.prefix = prefix
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.channel = f"{prefix}:control:changed"
        self._documents: dict[str, RedisDocument] = {}
        self._lock = threading.Lock()

    def document(self, name: str, seed: Path | None) -> RedisDocument:
        with self._lock:
            doc = self._documents.get(name)
            if doc is None:
                doc = self._documents[name] = RedisDocument(self, name, seed)
            return doc

    def lease(self, name: str) -> Lease:
        return Lease(self.client, f"{self.prefix}:control:lease:{name}", ttl=self.ttl)


class RedisDocument:
    def __init__(self, store: RedisStore, name: str, seed: Path | None):
        self.store = store
        self.name = name
        self.seed = seed
        self.key = f"{store.prefix}:control:doc:{name}"
        self.ack_prefix = f"{store.prefix}:control:ack:{name}:"
        self._seed_script = store.client.register_script(_SEED)
        self._current: Versioned | None = None
        self._appliers: list[Apply] = []
        self._follower_pid = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()

    # reading
    def _seed_text(self) -> str | None:
        if self.seed is None:
            return None
        try:
            return self.seed.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def fetch(self) -> Versioned:
        text, version = self.store.client.hmget(self.key, "text", "version")
        if version is None:
            seed = self._seed_text()
            text, version = self._seed_script(
                keys=[self.key], args=["1" if seed is not None else "", seed or ""]
            )
        if version is None:
            return Versioned(None, 0)
        return Versioned(text.decode("utf-8"), int(version))

    def read(self) -> Versioned:
        if self._follower_pid != os.getpid():
            return self.fetch()
        current = self._current
        return current if current is not None else self.fetch()

    # writing
    def update(self, change: Callable[[str | None], tuple[str, T]]) -> tuple[T, int]:
        self.fetch()  # seeds a missing document, so the first write starts from its file
        attempt = 0
        with self.store.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    text, version = pipe.hmget(self.key, "text", "version")
                    current = text.decode("utf-8") if text is not None else None
                    new_text, result = change(current)
                    new_version = int(version or 0) + 1
                    pipe.multi()
                    pipe.hset(self.key, mapping={"text": new_text, "version": new_version})
                    pipe.publish(self.store.channel, f"{self.name} {new_version}")
                    pipe.execute()
                    return result, new_version
                except redis.WatchError:  # another writer landed first: redo on its version
                    attempt += 1
                    time.sleep(backoff_delay(attempt, base=0.01, cap=0.2))

    # replicas
    def follow(self, apply: Apply) -> None:
        with self._lock:
            self._appliers.append(apply)
            if self._follower_pid == os.getpid():  # already following: give it the current one
                current = self._current
            else:  # first follower in this process (after a fork, the parent's thread is gone)
                self._follower_pid = os.getpid()
                self._current = None
                self._wake = threading.Event()
                threading.Thread(
                    target=self._follow, name=f"control-{self.name}", daemon=True
                ).start()
                return
        if current is not None:
            apply(current)

    def _follow(self) -> None:
        me = replica_id()
        ack_key = self.ack_prefix + me
        listener = threading.Thread(target=self._listen, name=f"control-{self.name}-push")
        listener.daemon = True
        listener.start()
        heartbeat = max(self.store.ttl / 3, 0.1)
        failures = 0
        refused: Versioned | None = None
        while True:
            try:
                self._wake.clear()
                latest = self.fetch()
                current = self._current
                if latest.text is not None and latest not in (current, refused):
                    if current is not None and latest.version < current.version:
                        # the store lost the document (a Redis without persistence restarted)
                        # and seeded it again: it is still the one truth, so follow it back
                        logger.warning(
                            "control store: %s went back from version %d to %d",
                            self.name,
                            current.version,
                            latest.version,
                        )
                    try:
                        self._apply(latest)
                    except Exception:  # the old version stays in force, and is what we report
                        refused = latest
                        logger.exception(
                            "control store: %s version %d refused", self.name, latest.version
                        )
                if self._current is not None:
                    self.store.client.set(
                        ack_key, self._current.version, px=int(self.store.ttl * 1000)
                    )
                failures = 0
                self._wake.wait(min(heartbeat, self.store.poll))
            except Exception:  # keep following: the last good version stays in force
                failures += 1
                logger.exception("control store: following %s failed", self.name)
                time.sleep(backoff_delay(failures, base=0.2, cap=5.0))

    def _apply(self, latest: Versioned) -> None:
        with self._lock:
            appliers = list(self._appliers)
        for apply in appliers:
            apply(latest)
        self._current = latest
        logger.info("control store: %s version %d applied", self.name, latest.version)

    def _listen(self) -> None:
        """Wake the follower on every push; the poll covers a lost message or connection."""
        failures = 0
        while True:
            try:
                pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.store.channel)
                self._wake.set()  # changes while we were not subscribed
                failures = 0
                for message in pubsub.listen():
                    if message["data"].split(b" ", 1)[0].decode() == self.name:
                        self._wake.set()
            except Exception as exc:
                failures += 1
                logger.warning("control store: push for %s lost (%s), polling", self.name, exc)
                time.sleep(backoff_delay(failures, base=0.2, cap=5.0))

    def replicas(self) -> dict[str, int]:
        """Every live replica of this document and the version it reports."""
        keys = list(self.store.client.scan_iter(match=self.ack_prefix + "*", count=500))
        if not keys:
            return {}
        values = self.store.client.mget(keys)
        return {
            key.decode()[len(self.ack_prefix) :]: int(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    def wait_applied(self, version: int, *, timeout: float | None = None) -> Applied:
        timeout = self.store.wait if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while True:
            live = self.replicas()
            seen |= set(live)
            laggards = {name: v for name, v in live.items() if v < version}
            if not laggards:
                return Applied(
                    self.name,
                    version,
                    shared=True,
                    acked=tuple(sorted(live)),
                    gone=tuple(sorted(seen - set(live))),
                )
            if time.monotonic() >= deadline:
                raise ReplicasLagging(self.name, version, laggards, timeout)
            time.sleep(0.02)  # a scan of the ack keys: cheap, and a flip is rare


class Lease:
    """A lease with a TTL: `hold()` takes it when free and renews it when ours. Call it more
    often than the TTL; a holder that dies stops renewing and the next caller takes over."""

    def __init__(self, client: Any, key: str, *, ttl: float):
        self.client = client
        self.key = key
        self.ttl = ttl
        self.holder = replica_id()
        self._take = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        self.holder = replica_id()  # after a fork the child is another replica
        try:
            return bool(self._take(keys=[self.key], args=[self.holder, int(self.ttl * 1000)]))
        except redis.RedisError as exc:
            logger.warning("control store: lease %s unreachable: %s", self.key, exc)
            return False

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.holder])

    def current_holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if value is not None else None
