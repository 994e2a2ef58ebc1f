"""The shared world of the polyglot tests and the comparison: a broker vhost, a JWKS, the Python
catalog service with its inbox consumer, and each other implementation on its own database,
all fed the same events (tests/polyglot/corpus.py)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import urllib3
import yaml

from servicekit.events.envelope import Envelope
from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import ACCESS, TokenPolicy, token_issue
from tests.polyglot.implementations import IMPLEMENTATIONS, ReadService
from tests.proxy.processes import ProxyProcess
from tests.support import fleet
from tests.support.processes import stop_process, stop_processes
from tests.support.wait import wait_for

EXCHANGE = "strangler.events"


@contextlib.contextmanager
def jwks_server(keys: list[SigningKey]) -> Iterator[str]:
    """A JWKS endpoint for `keys` on a free port, as the monolith's /.well-known/jwks.json; each
    request reads the list as it is then (a key put first is a rotation)."""

    documents: dict[tuple[str, ...], bytes] = {}  # made once per key list: quick under load

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            current = list(keys)
            kids = tuple(key.kid for key in current)
            if kids not in documents:
                documents[kids] = json.dumps(jwks_document(current)).encode()
            body = documents[kids]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def token_for(key: SigningKey, subject: int = 2, *, staff: bool = False) -> str:
    """An access token the edge would issue, signed by `key`, issued now."""
    claims = {"username": f"user{subject}", "is_staff": staff}
    return token_issue(
        key=key,
        policy=TokenPolicy(issuer="strangler-users", audience="strangler"),
        subject=str(subject),
        token_type=ACCESS,
        claims=claims,
    )


def tokens_for(key: SigningKey) -> dict[str, str]:
    return {"staff": token_for(key, 1, staff=True), "customer": token_for(key, 2)}


def publish(broker_url: str, envelopes: list[Envelope], *, subscriptions: dict) -> None:
    """Declare the topology (so every queue exists first), then publish in the given order."""
    from kombu import Producer

    from servicekit.events.broker.topology import (
        broker_connection,
        declare_topology,
        event_exchange,
    )

    with broker_connection(broker_url) as connection:
        channel = connection.channel()
        declare_topology(channel, exchange_name=EXCHANGE, subscriptions=subscriptions)
        producer = Producer(channel, exchange=event_exchange(EXCHANGE))
        for envelope in envelopes:
            producer.publish(
                envelope.to_json(),
                routing_key=envelope.event_type,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )


class NotYet(Exception):
    pass


def routes_for(upstream_url: str) -> dict:
    """The proxy's route table with the product reads pointed at one implementation."""
    return {
        "version": 1,
        "default_upstream": "catalog",
        "upstreams": {
            "catalog": {
                "discovery": "static",
                "instances": [upstream_url],
                "timeout": {"connect": 1, "read": 10},
                "max_concurrent": 200,
            }
        },
        "routes": [
            {
                "name": "product-reads",
                "prefix": "/api/v1/products",
                "methods": ["GET"],
                "mode": "extracted",
                "upstream": "catalog",
            }
        ],
    }


@dataclass
class World:
    services: dict[str, str]  # implementation name -> the proxy routing to it ("python" too)
    direct: dict[str, str]  # implementation name -> its own URL
    tokens: dict[str, str]
    broker_url: str
    data: Path
    python: fleet.DjangoService
    keys: list[SigningKey]  # what the JWKS serves, the current signing key first
    reads: dict[str, ReadService] = field(default_factory=dict)
    http: urllib3.PoolManager = field(default_factory=urllib3.PoolManager)

    def rotate(self) -> SigningKey:
        """The issuer publishes a new signing key (the old ones stay published) and signs with it."""
        key = SigningKey.from_pem(generate_private_pem())
        self.keys.insert(0, key)
        return key

    def get(
        self, name: str, path: str, query: str = "", headers: dict | None = None, *, direct=False
    ):
        url = (
            (self.direct if direct else self.services)[name] + path + (f"?{query}" if query else "")
        )
        return self.http.request("GET", url, headers=headers or {}, retries=False, timeout=10)

    def wait_applied(self, expected: dict[str, dict], *, timeout: float = 60) -> None:
        """Until every service shows every expected field of every expected product (as staff)."""
        headers = {"Authorization": f"Bearer {self.tokens['staff']}"}

        def caught_up() -> bool:
            for name in self.services:
                for sku, fields in expected.items():
                    response = self.get(name, f"/api/v1/products/{sku}/", headers=headers)
                    body = response.json()
                    if response.status != 200 or any(body.get(k) != v for k, v in fields.items()):
                        raise NotYet(f"{name} {sku}: {response.status} {body}")
            return True

        wait_for(
            caught_up,
            timeout=timeout,
            interval=0.1,
            what="every service to apply the feed",
            ignore=(NotYet,),
        )


@contextlib.contextmanager
def world(
    data: Path,
    names: list[str],
    *,
    feed_envelopes: list[Envelope],
    expected: dict,
    built: Callable[[], object] = lambda: None,
) -> Iterator[World]:
    """The Python catalog (web + inbox consumer) and the named implementations, fed the events.
    `built` is awaited before the implementations start (they build while Python migrates).

    Needs the real pass's PostgreSQL (DATABASE_URL) and RabbitMQ (CELERY_BROKER_URL)."""
    from contracts.topology import SUBSCRIPTIONS

    key = SigningKey.from_pem(generate_private_pem())
    keys = [key]
    tag = f"polyglot_{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(fleet.rabbitmq_vhost(os.environ["CELERY_BROKER_URL"], tag))
        jwks_url = stack.enter_context(jwks_server(keys))
        python = stack.enter_context(
            fleet.catalog(data, env={"CELERY_BROKER_URL": broker, "JWKS_URL": jwks_url})
        )
        consumer_log = stack.enter_context(open(data / "catalog-inbox.log", "wb"))
        consumer = subprocess.Popen(
            [*python.manage, "inbox_consume", "catalog"],
            cwd=fleet.ROOT,
            env=python.env,
            stdout=consumer_log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop_process, consumer)
        services = {"python": python.url}
        built()
        reads: dict[str, ReadService] = {}
        for name in names:
            database = fleet.postgres_database(os.environ["DATABASE_URL"], f"{tag}_{name}")
            stack.callback(
                fleet.postgres_database, os.environ["DATABASE_URL"], f"{tag}_{name}", drop=True
            )
            service = ReadService(
                IMPLEMENTATIONS[name],
                database_url=database,
                broker_url=broker,
                jwks_url=jwks_url,
                log=data / f"{name}.log",
            )
            reads[name] = stack.enter_context(service)
            services[name] = service.url
        subscriptions = {
            **SUBSCRIPTIONS,
            **{f"catalog.reads.{name}": ("catalog.#",) for name in names},
        }
        started = time.monotonic()
        proxies, started_here = {}, []
        for name, url in services.items():
            routes = data / f"routes-{name}.yaml"
            routes.write_text(yaml.safe_dump(routes_for(url), sort_keys=False))
            proxy = ProxyProcess(
                routes, data_dir=data / f"proxy-{name}", workers=1, name=f"proxy-{name}"
            )
            proxies[name] = stack.enter_context(proxy).url
            started_here.append(proxy.process)
        publish(broker, feed_envelopes, subscriptions=subscriptions)
        result = World(
            services=proxies,
            direct=services,
            tokens=tokens_for(key),
            broker_url=broker,
            data=data,
            python=python,
            keys=keys,
            reads=reads,
        )
        result.wait_applied(expected, timeout=max(60.0, 120 - (time.monotonic() - started)))
        yield result
        # Side by side (each takes seconds to drain); the exits below find them stopped.
        stop_processes(
            [*started_here, *(s.process for s in reads.values()), consumer, python.process]
        )
