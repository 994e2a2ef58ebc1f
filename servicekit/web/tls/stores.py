"""TLS to the data stores (PostgreSQL, RabbitMQ, Redis): CA, client certificate, clients' options.

A store is reached over TLS when its URL says so, in each client's standard form:
`postgres://...?sslmode=verify-full`, `amqps://...`, `rediss://...`. The server's certificate is
then always verified (its chain and, for RabbitMQ and Redis, its host name; PostgreSQL checks the
host with `sslmode=verify-full`) against one CA file:

    STRANGLER_TLS_STORE_CA   the CA file, else the fleet's `ca.crt` when STRANGLER_MTLS=on,
                             else the system's trusted roots (RabbitMQ, Redis; PostgreSQL: libpq's
                             own default, ~/.postgresql/root.crt, or `sslrootcert=` in the URL)

A store that requires a client certificate (PostgreSQL `clientcert=`/`cert` auth, Redis
`tls-auth-clients yes`, RabbitMQ `fail_if_no_peer_cert`) is shown one, the same for every TLS
store connection (PostgreSQL `sslcert`/`sslkey`, kombu and Celery `certfile`/`keyfile`, redis-py
`ssl_certfile`/`ssl_keyfile`):

    STRANGLER_TLS_STORE_CERT  the client certificate (PEM), with
    STRANGLER_TLS_STORE_KEY   its private key (PEM; may be the same file): both or neither

There is no default from the fleet's certificates: a store maps a certificate to a database user
or a vhost, which is the operator's decision. A certificate or key the URL names itself
(`sslcert=`, `ssl_certfile=`) wins, as `sslrootcert=` and `ssl_ca_certs=` do over the CA.

A configured file (CA, certificate, key) that does not exist, or one of the pair without the
other, stops the process at start with a message naming the store and the variable; a server
the CA does not vouch for fails the connection (and /readyz) with the handshake's own error.
Nothing here falls back to plaintext or to an unverified connection.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from servicekit.web.env import ImproperlyConfiguredEnv, database_url_var
from servicekit.web.tls import ca_cert_path, mtls_enabled

STORE_CA = "STRANGLER_TLS_STORE_CA"
STORE_CERT = "STRANGLER_TLS_STORE_CERT"
STORE_KEY = "STRANGLER_TLS_STORE_KEY"
# libpq's modes that encrypt; with a root certificate given, `require` verifies the chain too
# (libpq: "if a root CA file exists, require behaves like verify-ca").
POSTGRES_TLS_MODES = ("require", "verify-ca", "verify-full")
AMQP_TLS_SCHEME = "amqps://"
REDIS_TLS_SCHEME = "rediss://"


def store_ca_file(store: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The CA file `store`'s certificate is checked against; None: the system's trusted roots.

    Raises when the configured file is missing, naming the store and where the path came from."""
    environ = os.environ if environ is None else environ
    configured = environ.get(STORE_CA, "").strip()
    if configured:
        path, source = Path(configured), STORE_CA
    elif mtls_enabled(environ=environ):
        path, source = ca_cert_path(environ=environ), "the fleet CA (STRANGLER_MTLS=on)"
    else:
        return None
    if not path.is_file():
        raise ImproperlyConfiguredEnv(
            f"{store} over TLS: the CA file {path} ({source}) does not exist; "
            f"set {STORE_CA} to the CA that signed the server's certificate"
        )
    return str(path)


def store_client_certificate(
    store: str, *, environ: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """The (certificate, key) files every TLS connection to `store` presents; None: no client
    certificate. Raises when only one of the pair is set, or a configured file is missing."""
    environ = os.environ if environ is None else environ
    cert, key = environ.get(STORE_CERT, "").strip(), environ.get(STORE_KEY, "").strip()
    if not cert and not key:
        return None
    if not (cert and key):
        raise ImproperlyConfiguredEnv(
            f"{store} over TLS: {STORE_CERT} and {STORE_KEY} go together (the client "
            f"certificate the data stores are shown and its key): set both or neither"
        )
    for name, path in ((STORE_CERT, cert), (STORE_KEY, key)):
        if not Path(path).is_file():
            raise ImproperlyConfiguredEnv(
                f"{store} over TLS: the file {path} ({name}) does not exist"
            )
    return cert, key


def postgres_options(
    options: Mapping[str, Any], *, store: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Django's `DATABASES[...]["OPTIONS"]` (the URL's query: sslmode, sslrootcert, ...) with the
    stores' CA as `sslrootcert` when the URL asks for TLS and names no root certificate, and the
    stores' client certificate as `sslcert`/`sslkey` when the URL names neither."""
    options = dict(options)
    if options.get("sslmode") not in POSTGRES_TLS_MODES:
        return options
    given = options.get("sslrootcert")
    if given:
        if given != "system" and not Path(given).is_file():
            raise ImproperlyConfiguredEnv(
                f"{store} over TLS: sslrootcert {given} in the URL does not exist"
            )
    elif ca := store_ca_file(store, environ=environ):
        options["sslrootcert"] = ca
    if not {"sslcert", "sslkey"} & options.keys() and (
        client := store_client_certificate(store, environ=environ)
    ):
        options["sslcert"], options["sslkey"] = client
    return options


def database_tls(
    config: dict[str, Any], *, service: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`servicekit.web.env.database_config`'s result with the stores' CA applied (PostgreSQL)."""
    if not config.get("ENGINE", "").endswith("postgresql"):
        return config
    environ = os.environ if environ is None else environ
    var = database_url_var(service)
    store = f"PostgreSQL ({var if environ.get(var) else 'DATABASE_URL'})"
    options = postgres_options(config.get("OPTIONS") or {}, store=store, environ=environ)
    return {**config, "OPTIONS": options}


def cache_tls(
    config: dict[str, Any], *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`servicekit.web.env.cache_config`'s result with verified TLS for a `rediss://` Redis."""
    options = redis_options(config.get("LOCATION", ""), store="Redis (REDIS_URL)", environ=environ)
    if not options:
        return config
    return {**config, "OPTIONS": {**options, **config.get("OPTIONS", {})}}


# The libpq parameters a Django PostgreSQL OPTIONS may carry that a raw psycopg connection must
# get as well (or it would connect without the TLS the URL asked for).
LIBPQ_TLS_PARAMETERS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslnegotiation",
    "sslsni",
)


def libpq_tls_parameters(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The TLS part of a Django PostgreSQL OPTIONS, for `psycopg.connect(**...)`."""
    return {k: v for k, v in (options or {}).items() if k in LIBPQ_TLS_PARAMETERS}


def amqp_ssl(
    url: str, *, store: str = "RabbitMQ", environ: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """kombu's `Connection(ssl=...)` and Celery's `broker_use_ssl` for an `amqps://` URL (None
    for any other): the certificate required, checked against the stores' CA, and its name
    against the URL's host (kombu fills `server_hostname` from the URL); the stores' client
    certificate presented when one is configured."""
    if not url.startswith(AMQP_TLS_SCHEME):
        return None
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
    if ca := store_ca_file(store, environ=environ):
        options["ca_certs"] = ca
    if client := store_client_certificate(store, environ=environ):
        options["certfile"], options["keyfile"] = client
    return options


def redis_options(
    url: str, *, store: str = "Redis", environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`redis.Redis.from_url(url, **...)` (and Django's RedisCache OPTIONS) for a `rediss://` URL
    ({} for any other): the certificate required and its host name checked, against the stores'
    CA; the stores' client certificate presented when one is configured. The URL's own `ssl_*`
    query options win (redis-py applies them last; a file the URL names is not checked here)."""
    if not url.startswith(REDIS_TLS_SCHEME):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    query = parse_qs(urlsplit(url).query)
    if "ssl_ca_certs" not in query and (ca := store_ca_file(store, environ=environ)):
        options["ssl_ca_certs"] = ca
    if not {"ssl_certfile", "ssl_keyfile"} & query.keys() and (
        client := store_client_certificate(store, environ=environ)
    ):
        options["ssl_certfile"], options["ssl_keyfile"] = client
    return options
