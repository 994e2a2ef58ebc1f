"""The clients of the data stores over verified TLS (servicekit.web.tls.stores), against real servers.

Redis and PostgreSQL serve TLS themselves, started here on free ports; RabbitMQ is the machine's
own behind a TLS relay (tests/support/tls_stores.py). Every certificate comes from the project's
CA; "the wrong CA" is a second one of its kind, which must be refused with the handshake's error.
Each store is also started requiring a client certificate, which the clients present only when
STRANGLER_TLS_STORE_CERT/KEY name one.
The live tests run once, in make test's real-servers pass (they skip on the embedded one).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.core.cache.backends.redis import RedisCache
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler
from kombu import Queue

from contracts.catalog import StockChangedV2
from servicekit.events.broker.kombu import KombuPublisher
from servicekit.events.broker.topology import broker_connection
from servicekit.events.envelope import Envelope
from servicekit.events.relay.relay import PostgresNotifyWaker
from servicekit.web.control_store.redis_store import RedisStore
from servicekit.web.django_defaults import celery_settings
from servicekit.web.env import ImproperlyConfiguredEnv, cache_config, database_config
from servicekit.web.health import check_broker
from servicekit.web.tls.stores import (
    amqp_ssl,
    database_tls,
    postgres_options,
    redis_options,
)
from strangler_proxy.runtime import redis_client
from tests.support.backends import require_or_skip
from tests.support.envelopes import envelope
from tests.support.tls import local_ca
from tests.support.tls_stores import tls_postgres, tls_redis, tls_relay

VERIFY_FAILED = "certificate verify failed"


@pytest.fixture
def cas(tmp_path) -> dict[str, Path]:
    """The stores' CA (with a certificate for each store and one for their client) and another
    CA that signed only a client certificate (`stranger`)."""
    ours = local_ca(tmp_path / "ours", "redis", "postgres", "rabbitmq", "store-client")
    other = local_ca(tmp_path / "other", "stranger")
    tls, elsewhere = Path(ours["STRANGLER_TLS_DIR"]), Path(other["STRANGLER_TLS_DIR"])
    return {
        "dir": tls,
        "ca": tls / "ca.crt",
        "other": elsewhere / "ca.crt",
        "client": tls / "store-client.pem",  # key + certificate in one file
        "stranger": elsewhere / "stranger.pem",
    }


def client_certificate(identity: Path) -> dict[str, str]:
    """The variables that make every TLS store connection present `identity` (key + cert)."""
    return {"STRANGLER_TLS_STORE_CERT": str(identity), "STRANGLER_TLS_STORE_KEY": str(identity)}


def present(monkeypatch, identity: Path | None) -> None:
    """This process's store connections present `identity` from now on (None: nothing)."""
    for name, value in client_certificate(identity or Path()).items():
        if identity:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


def real_pass_only(backend: str) -> None:
    if backend not in os.environ.get("STRANGLER_BACKENDS", "").split("+"):
        require_or_skip(backend, "the TLS tests run once, in the real-servers pass")


# configuration: no server needed ----------------------------------------------------------------
def test_plain_urls_get_no_tls_options():
    assert amqp_ssl("amqp://guest:guest@127.0.0.1:5672//", environ={}) is None
    assert redis_options("redis://127.0.0.1:6379/0", environ={}) == {}
    assert postgres_options({"connect_timeout": 2}, store="PostgreSQL", environ={}) == {
        "connect_timeout": 2
    }


def test_tls_urls_require_a_verified_certificate_from_the_configured_ca(cas):
    env = {"STRANGLER_TLS_STORE_CA": str(cas["ca"])}
    assert amqp_ssl("amqps://h//", environ=env) == {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,  # kombu puts the URL's host here: the name is checked
        "ca_certs": str(cas["ca"]),
    }
    assert redis_options("rediss://h:6380/0", environ=env) == {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(cas["ca"]),
    }
    assert postgres_options({"sslmode": "verify-full"}, store="PostgreSQL", environ=env) == {
        "sslmode": "verify-full",
        "sslrootcert": str(cas["ca"]),
    }
    # the Celery setting carries the same options
    settings = celery_settings(broker_url="amqps://h//", transport_options={}, eager=False)
    assert settings["CELERY_BROKER_USE_SSL"]["cert_reqs"] == ssl.CERT_REQUIRED


def test_the_fleet_ca_is_the_default_when_mtls_is_on(cas):
    env = {"STRANGLER_MTLS": "on", "STRANGLER_TLS_DIR": str(cas["dir"])}
    assert redis_options("rediss://h/0", environ=env)["ssl_ca_certs"] == str(cas["ca"])
    # off: the system's trusted roots (no CA file given, verification still required)
    assert "ssl_ca_certs" not in redis_options("rediss://h/0", environ={})
    assert "ca_certs" not in amqp_ssl("amqps://h//", environ={})


def test_a_missing_ca_file_stops_the_start_naming_the_store(tmp_path):
    env = {"STRANGLER_TLS_STORE_CA": str(tmp_path / "nowhere.crt")}
    with pytest.raises(ImproperlyConfiguredEnv, match=r"Redis \(REDIS_URL\) over TLS"):
        cache_tls_config("rediss://h/0", env)
    with pytest.raises(ImproperlyConfiguredEnv, match=r"RabbitMQ over TLS"):
        amqp_ssl("amqps://h//", environ=env)
    database = {"CATALOG_DATABASE_URL": "postgres://u@h/db?sslmode=verify-full", **env}
    with pytest.raises(ImproperlyConfiguredEnv, match=r"PostgreSQL \(CATALOG_DATABASE_URL\)"):
        database_tls(
            database_config(service="catalog", environ=database),
            service="catalog",
            environ=database,
        )


def test_every_tls_store_presents_the_configured_client_certificate(cas, monkeypatch):
    env = {"STRANGLER_TLS_STORE_CA": str(cas["ca"]), **client_certificate(cas["client"])}
    client = str(cas["client"])
    assert amqp_ssl("amqps://h//", environ=env) == {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,
        "ca_certs": str(cas["ca"]),
        "certfile": client,
        "keyfile": client,
    }
    assert redis_options("rediss://h:6380/0", environ=env) == {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(cas["ca"]),
        "ssl_certfile": client,
        "ssl_keyfile": client,
    }
    assert postgres_options({"sslmode": "verify-full"}, store="PostgreSQL", environ=env) == {
        "sslmode": "verify-full",
        "sslrootcert": str(cas["ca"]),
        "sslcert": client,
        "sslkey": client,
    }
    # Celery's setting (and so /readyz) carries it too
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = celery_settings(broker_url="amqps://h//", transport_options={}, eager=False)
    assert settings["CELERY_BROKER_USE_SSL"]["certfile"] == client
    # plain URLs get nothing, as before
    assert amqp_ssl("amqp://h//", environ=env) is None
    assert redis_options("redis://h/0", environ=env) == {}
    assert postgres_options({"sslmode": "prefer"}, store="PostgreSQL", environ=env) == {
        "sslmode": "prefer"
    }


def test_a_client_certificate_the_url_names_wins(cas):
    env = client_certificate(cas["client"])
    own = {
        "sslmode": "verify-full",
        "sslrootcert": "system",
        "sslcert": "/u.crt",
        "sslkey": "/u.key",
    }
    assert postgres_options(own, store="PostgreSQL", environ=env) == own
    # only a key in the URL: it is still the URL's (libpq finds the certificate itself)
    keyed = {"sslmode": "verify-full", "sslrootcert": "system", "sslkey": "/u.key"}
    assert postgres_options(keyed, store="PostgreSQL", environ=env) == keyed
    # redis-py applies the URL's own ssl_* options over ours: none given here
    options = redis_options("rediss://h/0?ssl_certfile=/u.crt&ssl_keyfile=/u.key", environ=env)
    assert "ssl_certfile" not in options and "ssl_keyfile" not in options


def test_a_client_certificate_needs_its_key_and_both_files(cas, tmp_path):
    half = {"STRANGLER_TLS_STORE_CERT": str(cas["client"])}
    both = r"STRANGLER_TLS_STORE_CERT and STRANGLER_TLS_STORE_KEY go together"
    with pytest.raises(ImproperlyConfiguredEnv, match=r"RabbitMQ over TLS: " + both):
        amqp_ssl("amqps://h//", environ=half)
    with pytest.raises(ImproperlyConfiguredEnv, match=both):
        redis_options("rediss://h/0", environ={"STRANGLER_TLS_STORE_KEY": str(cas["client"])})
    with pytest.raises(ImproperlyConfiguredEnv, match=both):
        postgres_options({"sslmode": "verify-full"}, store="PostgreSQL", environ=half)

    missing = {**client_certificate(cas["client"]), "STRANGLER_TLS_STORE_KEY": "/nowhere.key"}
    with pytest.raises(
        ImproperlyConfiguredEnv,
        match=r"Redis \(REDIS_URL\) over TLS: .*/nowhere.key \(STRANGLER_TLS_STORE_KEY\) does not",
    ):
        cache_tls_config("rediss://h/0", missing)
    missing = client_certificate(tmp_path / "nowhere.pem")
    database = {"CATALOG_DATABASE_URL": "postgres://u@h/db?sslmode=verify-full", **missing}
    with pytest.raises(
        ImproperlyConfiguredEnv,
        match=r"PostgreSQL \(CATALOG_DATABASE_URL\) .* \(STRANGLER_TLS_STORE_CERT\) does not",
    ):
        database_tls(
            database_config(service="catalog", environ=database),
            service="catalog",
            environ=database,
        )
    with pytest.raises(ImproperlyConfiguredEnv, match=r"RabbitMQ over TLS: .*nowhere.pem"):
        amqp_ssl("amqps://h//", environ=missing)


def cache_tls_config(url: str, env: dict[str, str]) -> dict:
    from servicekit.web.tls.stores import cache_tls

    return cache_tls(cache_config(service="s", environ={"REDIS_URL": url}), environ=env)


# Redis -------------------------------------------------------------------------------------------
def test_redis_clients_talk_verified_tls(cas, tmp_path, monkeypatch):
    real_pass_only("redis")
    with tls_redis(cas["dir"] / "redis.pem", cas["ca"], tmp_path) as port:
        url = f"rediss://127.0.0.1:{port}/0"
        monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["ca"]))

        # the control store: a versioned write read back, a lease taken
        store = RedisStore(url, prefix=f"tls-{uuid.uuid4().hex[:8]}", ttl=5, wait=1)
        document = store.document("routes", None)
        document.update(lambda _text: ("a: 1\n", None))
        assert document.read().text == "a: 1\n"
        assert store.lease("evaluator").hold()
        # the services' cache (Django's RedisCache with cache_tls's OPTIONS)
        config = cache_tls_config(url, dict(os.environ))
        cache = RedisCache(config["LOCATION"], {k: v for k, v in config.items() if k != "LOCATION"})
        cache.set("k", "v")
        assert cache.get("k") == "v"
        # the proxy's client (rate limits, breakers, shadow captures)
        assert redis_client(url).ping()

        # with STRANGLER_MTLS=on the fleet's CA is the default
        monkeypatch.delenv("STRANGLER_TLS_STORE_CA")
        monkeypatch.setenv("STRANGLER_MTLS", "on")
        monkeypatch.setenv("STRANGLER_TLS_DIR", str(cas["dir"]))
        assert redis_client(url).ping()

        # a server the CA does not vouch for is refused, by every client
        monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["other"]))
        with pytest.raises(redis.ConnectionError, match=VERIFY_FAILED):
            RedisStore(url, prefix="tls-refused", ttl=5, wait=1).client.ping()
        with pytest.raises(redis.ConnectionError, match=VERIFY_FAILED):
            redis_client(url).ping()


def test_redis_requiring_a_client_certificate_is_shown_the_configured_one(
    cas, tmp_path, monkeypatch
):
    real_pass_only("redis")
    with tls_redis(cas["dir"] / "redis.pem", cas["ca"], tmp_path, clients=cas["ca"]) as port:
        url = f"rediss://127.0.0.1:{port}/0"
        monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["ca"]))

        # without a client certificate: refused
        with pytest.raises(redis.ConnectionError):
            redis_client(url).ping()

        # with one the stores' CA signed: the control store and the proxy's client
        present(monkeypatch, cas["client"])
        store = RedisStore(url, prefix=f"tls-{uuid.uuid4().hex[:8]}", ttl=5, wait=1)
        document = store.document("routes", None)
        document.update(lambda _text: ("a: 1\n", None))
        assert document.read().text == "a: 1\n"
        assert redis_client(url).ping()

        # one another CA signed: refused
        present(monkeypatch, cas["stranger"])
        with pytest.raises(redis.ConnectionError):
            RedisStore(url, prefix="tls-refused", ttl=5, wait=1).client.ping()


# PostgreSQL --------------------------------------------------------------------------------------
@contextlib.contextmanager
def django_connection(config: dict, django_db_blocker) -> Iterator[BaseDatabaseWrapper]:
    """Django's connection for `config`, on an alias of its own: Django keeps one pool per alias
    in a process, and "default" has the test database's already. Its pool is closed after."""
    alias = f"tls_{uuid.uuid4().hex[:8]}"
    handler = ConnectionHandler({"default": config, alias: config})  # "default" is never used
    with django_db_blocker.unblock():
        try:
            yield handler[alias]
        finally:
            handler.close_all()
            handler[alias].close_pool()


def refused(connection: BaseDatabaseWrapper, why: str, caplog) -> None:
    """The connection cannot be had; the pool's log says `why` (its timeout is what raises)."""
    with caplog.at_level(logging.WARNING, logger="psycopg.pool"), pytest.raises(OperationalError):
        connection.ensure_connection()
    assert why in caplog.text


def test_postgres_connections_talk_verified_tls(cas, tmp_path, django_db_blocker, caplog):
    real_pass_only("postgres")
    with tls_postgres(cas["dir"] / "postgres.pem") as port:
        url = f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full"

        def config_with(ca: Path) -> dict:
            env = {
                "MONOLITH_DATABASE_URL": url,
                "STRANGLER_TLS_STORE_CA": str(ca),
                "STRANGLER_DATA_DIR": str(tmp_path),
                "DATABASE_POOL_TIMEOUT": "1",  # how long a refused connection keeps it waiting
            }
            config = database_config(service="monolith", environ=env)
            return database_tls(config, service="monolith", environ=env)

        # Django's connection: a query over TLS (the server only takes hostssl)
        good = config_with(cas["ca"])
        with django_connection(good, django_db_blocker) as connection, connection.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone() == (True,)
        # the relay's LISTEN connection takes the same TLS options
        PostgresNotifyWaker(good).close()

        # a server the CA does not vouch for is refused by both
        bad = config_with(cas["other"])
        with django_connection(bad, django_db_blocker) as connection:
            refused(connection, VERIFY_FAILED, caplog)
        with pytest.raises(Exception, match=VERIFY_FAILED):
            PostgresNotifyWaker(bad)


def test_postgres_requiring_a_client_certificate_is_shown_the_configured_one(
    cas, tmp_path, django_db_blocker, caplog
):
    real_pass_only("postgres")
    required = "connection requires a valid client certificate"
    with tls_postgres(cas["dir"] / "postgres.pem", clients=cas["ca"]) as port:
        url = f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full"

        def config_with(client: dict[str, str]) -> dict:
            env = {
                "MONOLITH_DATABASE_URL": url,
                "STRANGLER_TLS_STORE_CA": str(cas["ca"]),
                "STRANGLER_DATA_DIR": str(tmp_path),
                "DATABASE_POOL_TIMEOUT": "1",
                **client,
            }
            config = database_config(service="monolith", environ=env)
            return database_tls(config, service="monolith", environ=env)

        # Django's connection shows the certificate (the server saw its name)
        good = config_with(client_certificate(cas["client"]))
        with django_connection(good, django_db_blocker) as connection, connection.cursor() as cur:
            cur.execute("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert "CN=store-client" in cur.fetchone()[0]
        # and so does the relay's LISTEN connection
        PostgresNotifyWaker(good).close()

        # without one, both are refused
        bad = config_with({})
        with django_connection(bad, django_db_blocker) as connection:
            refused(connection, required, caplog)
        with pytest.raises(Exception, match=required):
            PostgresNotifyWaker(bad)


# RabbitMQ ----------------------------------------------------------------------------------------
@pytest.fixture
def rabbitmq(settings) -> tuple[str, int, str]:
    """(host, port, user:password) of the machine's RabbitMQ (the real pass's CELERY_BROKER_URL)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("amqp://"):
        require_or_skip("rabbitmq", "CELERY_BROKER_URL is not amqp://")
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5672, parts.netloc.rpartition("@")[0]


def use_broker_settings(settings, url: str) -> None:
    """Django's Celery settings for `url`, made as a service's settings module makes them."""
    for name, value in celery_settings(broker_url=url, transport_options={}, eager=False).items():
        setattr(settings, name, value)


def test_events_and_celery_talk_verified_tls_to_rabbitmq(cas, rabbitmq, monkeypatch, settings):
    host, port, credentials = rabbitmq
    name = f"tls-test-{uuid.uuid4().hex[:8]}"
    tasks = f"{name}-tasks"  # Celery declares its queue's exchange as direct: one of its own
    with tls_relay(cas["dir"] / "rabbitmq.pem", (host, port)) as relay:
        url = f"amqps://{credentials}@127.0.0.1:{relay}//"
        monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["ca"]))
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would take it over ours
        try:
            # the events: KombuPublisher publishes (confirmed), a TLS consumer receives it
            publisher = KombuPublisher(
                url=url,
                transport_options={},
                exchange_name=name,
                subscriptions={name: ["catalog.#"]},
            )
            event = envelope(
                StockChangedV2(sku="TLS", on_hand=1, reserved=0, available=1, reason="tls")
            )
            try:
                assert publisher.publish([event]).confirmed == [event.event_id]
                assert publisher._connection.transport.driver_type == "amqp"
            finally:
                publisher.close()
            with broker_connection(url) as connection:
                message = Queue(name)(connection.channel()).get(no_ack=True)
                assert message is not None
                assert Envelope.from_json(message.body).event_id == event.event_id

            # Celery's producer (broker_use_ssl from celery_settings) and readiness
            assert_celery_and_readiness_over_tls(url, tasks, settings)

            # a broker the CA does not vouch for is refused: publisher, Celery, readiness
            monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["other"]))
            assert_broker_refused(url, event, settings, match=VERIFY_FAILED)

            # the right CA but a host its certificate does not name: refused as well
            monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["ca"]))
            with tls_relay(cas["dir"] / "rabbitmq.pem", (host, port), host="127.0.0.2") as other:
                elsewhere = f"amqps://{credentials}@127.0.0.2:{other}//"
                with pytest.raises(Exception, match="IP address mismatch"):
                    KombuPublisher(
                        url=elsewhere, transport_options={}, exchange_name=name, subscriptions={}
                    ).publish([event])
        finally:
            delete_queues(f"amqp://{credentials}@{host}:{port}//", name, tasks)


def assert_celery_and_readiness_over_tls(url: str, tasks: str, settings) -> None:
    """A task message Celery's producer sends to `tasks` arrives, and readiness (reading the
    TLS options the settings were started with) reaches the broker."""
    app = celery_app(url)
    with app.connection_for_write() as connection:
        app.send_task("tests.tls.task", kwargs={"n": 2}, connection=connection, queue=tasks)
    with broker_connection(url) as connection:
        message = Queue(tasks)(connection.channel()).get(no_ack=True)
        assert message is not None and message.headers["task"] == "tests.tls.task"
    use_broker_settings(settings, url)
    assert check_broker() == "amqps"


def assert_broker_refused(url: str, event: Envelope, settings, *, match: str) -> None:
    """The events' publisher, Celery's producer and readiness (with the settings a service
    started now makes) are all refused by the broker at `url`."""
    refused = KombuPublisher(
        url=url, transport_options={}, exchange_name="tls-refused", subscriptions={}
    )
    with pytest.raises(Exception, match=match):
        refused.publish([event])
    refused.close()
    with (
        pytest.raises(Exception, match=match),
        celery_app(url).connection_for_write() as connection,
    ):
        connection.ensure_connection(max_retries=0)
    use_broker_settings(settings, url)
    with pytest.raises(Exception, match=match):
        check_broker()


def delete_queues(plain_url: str, *names: str) -> None:
    """Delete each queue and its exchange of the same name (the tests' own)."""
    with broker_connection(plain_url) as connection:
        channel = connection.channel()
        for queue in names:
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


def celery_app(url: str):
    from celery import Celery

    settings = celery_settings(broker_url=url, transport_options={}, eager=False)
    app = Celery("tls-check")
    app.config_from_object({k.removeprefix("CELERY_").lower(): v for k, v in settings.items()})
    return app


def test_rabbitmq_requiring_a_client_certificate_is_shown_the_configured_one(
    cas, rabbitmq, monkeypatch, settings
):
    host, port, credentials = rabbitmq
    name = f"tls-client-{uuid.uuid4().hex[:8]}"
    tasks = f"{name}-tasks"
    with tls_relay(cas["dir"] / "rabbitmq.pem", (host, port), clients=cas["ca"]) as relay:
        url = f"amqps://{credentials}@127.0.0.1:{relay}//"
        monkeypatch.setenv("STRANGLER_TLS_STORE_CA", str(cas["ca"]))
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would take it over ours
        event = envelope(StockChangedV2(sku="TLS", on_hand=1, reserved=0, available=1, reason="c"))
        try:
            # with the certificate: the events' publisher (confirmed), Celery's producer, readiness
            present(monkeypatch, cas["client"])
            publisher = KombuPublisher(
                url=url, transport_options={}, exchange_name=name, subscriptions={name: ["#"]}
            )
            try:
                assert publisher.publish([event]).confirmed == [event.event_id]
            finally:
                publisher.close()
            assert_celery_and_readiness_over_tls(url, tasks, settings)

            # without it: each is refused (the relay's TLS alert)
            present(monkeypatch, None)
            assert_broker_refused(url, event, settings, match="certificate required")
        finally:
            delete_queues(f"amqp://{credentials}@{host}:{port}//", name, tasks)
