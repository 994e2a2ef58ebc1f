"""Three proxy replicas follow one route table in Redis (integration: the real Redis).

A flip returns only once every live replica applied it, and then every replica routes to the
new side; a killed replica's heartbeat expires and the next flip reports it instead of
hanging; a live replica that does not apply is named; two writers racing on the document both
land; exactly one replica leads the lifecycle evaluator, and another takes over when it dies.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from servicekit.web.control_store import ControlSettings, ReplicasLagging, control_document
from strangler_proxy.routes.file import read_raw, route_update
from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec
from tests.proxy.processes import ROOT, ProxyProcess
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

TTL = 3.0  # heartbeat and lease expiry in these fleets (a heartbeat every TTL/3)


def _get_server(url: str) -> str:
    with urllib.request.urlopen(f"{url}/where", timeout=10) as answer:
        return json.loads(answer.read())["server"]


class Fleet:
    """Three proxies (one worker each) sharing a route table under a prefix of their own."""

    def __init__(self, tmp_path: Path, redis_url: str, seed: str, env: dict[str, str] | None):
        self.prefix = f"test-{uuid.uuid4().hex[:12]}"
        self.settings = ControlSettings(store=redis_url, prefix=self.prefix, ttl=TTL, wait=30)
        self.seed = tmp_path / "routes.yaml"
        self.seed.write_text(seed, encoding="utf-8")
        self.document = control_document("routes", self.seed, settings=self.settings)
        self.env = {
            "STRANGLER_CONTROL_STORE": redis_url,
            "CACHE_KEY_PREFIX": self.prefix,
            "STRANGLER_CONTROL_TTL": str(TTL),
            "STRANGLER_CONTROL_WAIT": "8",  # the admin API's and the CLI's wait
            "STRANGLER_ADMIN_TOKEN": ADMIN_TOKEN,
            "STRANGLER_HEALTH_CHECKS": "false",
            **(env or {}),
        }
        self.tmp_path = tmp_path
        self.proxies: list[ProxyProcess] = []
        self.replica_of: dict[int, str] = {}  # proxy index -> its worker's replica id

    def start(self, n: int = 3) -> Fleet:
        for i in range(n):
            before = set(self.document.replicas())
            proxy = ProxyProcess(
                self.seed, data_dir=self.tmp_path / f"p{i}", env=self.env, workers=1
            ).__enter__()
            self.proxies.append(proxy)
            new = wait_for(
                lambda before=before: set(self.document.replicas()) - before,
                timeout=60,
                what=f"proxy {i}'s worker to report the route table it applied",
            )
            (self.replica_of[i],) = new
        return self

    def kill(self, i: int) -> None:
        """SIGKILL the proxy and its worker: no goodbye, its heartbeat just stops."""
        proxy = self.proxies[i]
        proxy.process.kill()
        os.kill(int(self.replica_of[i].rsplit(":", 1)[1]), signal.SIGKILL)
        proxy.process.wait()

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.__exit__(None, None, None)


@pytest.fixture
def fleet(tmp_path, redis_url, start_upstream):
    started: list[Fleet] = []

    def make(env: dict[str, str] | None = None) -> Fleet:
        seed = routes_yaml(
            {
                "monolith": upstream_spec(start_upstream("monolith").url),
                "svc": upstream_spec(start_upstream("svc").url),
            },
            [{"name": "r", "prefix": "/", "mode": "monolith", "upstream": "svc"}],
        )
        started.append(Fleet(tmp_path, redis_url, seed, env).start())
        return started[-1]

    yield make
    for one in started:
        one.stop()


def _routes_cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "--file", str(fleet.seed), "routes", *args],
        cwd=ROOT,
        env={**os.environ, **fleet.env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_flip_returns_once_every_replica_applied_it_and_routes_there(fleet):
    # given: three replicas on the monolith side
    replicas = fleet()
    assert {_get_server(p.url) for p in replicas.proxies} == {"monolith"}

    # when: an operator flips the route (the CLI, as the takeover commands do)
    done = _routes_cli(replicas, "set", "r", "--mode", "extracted")

    # then: it returned only after all three reported the new version, and all three route there
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied by 3 replica(s)" in done.stdout
    version = replicas.document.fetch().version
    assert set(replicas.document.replicas().values()) == {version}
    assert [_get_server(p.url) for p in replicas.proxies] == ["svc"] * 3
    # the seed file is only where the table started: the flip lives in the store
    assert read_raw(replicas.seed)["routes"][0]["mode"] == "monolith"


def test_a_dead_replica_stops_blocking_once_its_heartbeat_expires(fleet):
    replicas = fleet()
    dead = replicas.replica_of[1]

    # when: one replica dies without a word, and the next flip starts at once
    replicas.kill(1)
    applied = route_update(replicas.document, "r", {"mode": "extracted"})

    # then: the flip completed without it, and says so
    assert dead in applied.gone
    assert sorted(applied.acked) == sorted([replicas.replica_of[0], replicas.replica_of[2]])
    assert [_get_server(replicas.proxies[i].url) for i in (0, 2)] == ["svc", "svc"]


def test_a_live_replica_that_does_not_apply_is_named(fleet):
    # the admin API below waits STRANGLER_CONTROL_WAIT for the laggard (15 s by default)
    replicas = fleet({"STRANGLER_CONTROL_WAIT": "3"})
    stuck = "stuck-host:4242"
    # a replica that keeps its heartbeat but never applies: it reports the version before
    old = replicas.document.fetch().version
    replicas.document.store.client.set(replicas.document.ack_prefix + stuck, old, ex=60)

    with pytest.raises(ReplicasLagging) as caught:
        applied = replicas.document.wait_applied(route_update_version(replicas.document), timeout=2)
        raise AssertionError(f"waited for nobody: {applied}")

    assert caught.value.laggards == {stuck: old}
    assert stuck in str(caught.value)
    # once it applies (a second later), the wait returns: only then
    client, key, version = (
        replicas.document.store.client,
        replicas.document.ack_prefix + stuck,
        caught.value.version,
    )
    late = threading.Timer(1.0, client.set, args=(key, version), kwargs={"ex": 60})
    late.start()
    applied = replicas.document.wait_applied(version, timeout=30)
    assert int(client.get(key)) == version
    assert stuck in applied.acked
    client.set(key, old, ex=60)  # stuck again, for the admin API
    # the admin API answers the same laggard as a problem, not a hang or a 500
    request = urllib.request.Request(
        f"{replicas.proxies[0].url}/_strangler/routes/r",
        data=json.dumps({"mode": "monolith"}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=60)
    assert answer.value.code == 504
    body = json.loads(answer.value.read())
    assert body["code"] == "replicas_lagging" and stuck in body["detail"]


def route_update_version(document) -> int:
    """Flip `r` without waiting, returning the new version."""
    from strangler_proxy.routes.file import RouteChange, route_write

    return route_write(document, RouteChange(route="r", fields={"mode": "extracted"}))[1]


def test_two_writers_racing_on_the_document_both_land(tmp_path, redis_url):
    # given: a table in the store with routes for two writers, nobody following it
    lines = [{"name": f"{who}-{i}", "prefix": f"/{who}/{i}/"} for who in "ab" for i in range(15)]
    seed = tmp_path / "routes.yaml"
    seed.write_text(routes_yaml({"monolith": upstream_spec("http://127.0.0.1:9")}, lines))
    settings = ControlSettings(store=redis_url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    document = control_document("routes", seed, settings=settings)
    first = document.fetch().version
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(who: str) -> None:
        start.wait()
        try:
            for i in range(15):
                route_update(document, f"{who}-{i}", {"fallback": "monolith"})
        except BaseException as exc:
            errors.append(exc)

    # when: both write the same document at once
    threads = [threading.Thread(target=writer, args=(who,)) for who in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: every change of both is there, each in a version of its own
    assert errors == []
    routes = read_raw(document)["routes"]
    assert all(r.get("fallback") == "monolith" for r in routes), routes
    assert document.fetch().version == first + 30


def _evaluations(fleet: Fleet, i: int) -> int:
    path = fleet.tmp_path / f"p{i}" / "proxy" / "lifecycle.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM snapshots").fetchone()[0]


def test_one_replica_leads_the_evaluator_and_another_takes_over_when_it_dies(fleet):
    replicas = fleet(
        {"STRANGLER_LIFECYCLE_EVALUATOR": "true", "STRANGLER_LIFECYCLE_INTERVAL": "0.5"}
    )
    lease = replicas.document.store.lease("lifecycle")
    holder = wait_for(lease.current_holder, timeout=30, what="a lifecycle leader")
    leader = next(i for i, r in replicas.replica_of.items() if r == holder)
    wait_for(lambda: _evaluations(replicas, leader) >= 3, timeout=30, what="the leader to evaluate")

    # exactly one evaluates: the others hold no lease and take no snapshot
    assert [i for i in range(3) if _evaluations(replicas, i)] == [leader]

    # when: the leader dies
    replicas.kill(leader)

    # then: another replica takes the lease and evaluates
    successor = wait_for(
        lambda: (h := lease.current_holder()) not in (None, holder) and h,
        timeout=30,
        what="another replica to lead",
    )
    follower = next(i for i, r in replicas.replica_of.items() if r == successor)
    assert follower != leader
    wait_for(lambda: _evaluations(replicas, follower) >= 1, timeout=30, what="it to evaluate")
    others = [i for i in range(3) if i not in (leader, follower)]
    assert [_evaluations(replicas, i) for i in others] == [0]


def test_a_service_follows_an_ownership_flip_from_the_store(
    tmp_path, redis_url, jwks_server, make_token, monkeypatch
):
    from servicekit.migration.ownership import ownership_document, ownership_flip
    from tests.support import fleet as services

    # given: the catalog service, its ownership table in the store (product: the monolith's)
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    seed = tmp_path / "ownership.yaml"
    seed.write_text("product: monolith\n", encoding="utf-8")
    env = {
        "STRANGLER_CONTROL_STORE": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "STRANGLER_CONTROL_TTL": str(TTL),
        "OWNERSHIP_FILE": str(seed),
        "JWKS_URL": f"{jwks_server.url}/.well-known/jwks.json",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    document = ownership_document()
    staff = {"Authorization": f"Bearer {make_token('1', is_staff=True)}"}
    category = {"slug": "lamps", "name": "Lamps"}

    def create() -> int:
        request = urllib.request.Request(
            f"{service.url}/api/v1/categories/",
            data=json.dumps(category).encode(),
            method="POST",
            headers={**staff, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code

    with services.catalog(tmp_path / "catalog", env=env) as service:
        (replica,) = wait_for(
            document.replicas, timeout=60, what="the catalog to follow the ownership table"
        )
        assert create() == 503  # owner_moving: the monolith owns products

        # when: product moves to the catalog in the store
        table, applied = ownership_flip("product", "catalog")

        # then: the flip returned once the catalog applied it, and its next write is accepted
        assert table["product"] == "catalog"
        assert applied.acked == (replica,)
        assert create() == 201
        assert seed.read_text(encoding="utf-8") == "product: monolith\n"  # the store moved
