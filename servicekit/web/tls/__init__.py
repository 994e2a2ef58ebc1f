"""mTLS inside the fleet: the one module that knows the switch, the files and the contexts.

Off by default. `STRANGLER_MTLS=on` makes every gunicorn-served service (not the proxy's public
port) serve HTTPS that requires a client certificate signed by the local CA, and makes the
internal clients (the proxy's upstream client and health checks, servicekit's ServiceClient)
present their own certificate and verify the server against that CA.

Files (written by `python -m servicekit.web.tls.ca`, see docs/mtls.md) live in
`STRANGLER_TLS_DIR`, else `<data folder>/tls/`:

    ca.crt            the CA certificate (every party trusts it)
    ca.key            the CA private key (0600; only `ca issue/rotate` read it)
    <name>.pem        a service's private key and certificate, one file (0600), so a rotation
                      swaps both at once (an atomic rename); OpenSSL reads it twice (certificate,
                      then key), so every load here checks it read one version (`load_identity`)
    <name>.<stamp>.pem  a rotated-out pair, kept beside the current one

`STRANGLER_TLS_NAME` names the certificate this process presents as a client (the proxy's is
`proxy`); `make run` sets it per process when the switch is on.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from servicekit.web.env import data_dir, env_bool, env_str
from servicekit.web.files import file_version

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
# gunicorn's --cert-reqs takes the number of ssl.CERT_REQUIRED
CERT_REQUIRED = int(ssl.CERT_REQUIRED)


def mtls_enabled(*, environ: Mapping[str, str] | None = None) -> bool:
    return env_bool("STRANGLER_MTLS", False, environ=environ)


def tls_dir(*, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    configured = environ.get("STRANGLER_TLS_DIR")
    return Path(configured) if configured else data_dir(environ=environ) / "tls"


def ca_cert_path(*, environ: Mapping[str, str] | None = None) -> Path:
    return tls_dir(environ=environ) / CA_CERT


def identity_path(name: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The key+certificate file a service serves with and presents as a client."""
    return tls_dir(environ=environ) / f"{name}.pem"


def own_name(*, environ: Mapping[str, str] | None = None, default: str | None = None) -> str:
    """This process's certificate name (`STRANGLER_TLS_NAME`)."""
    return env_str("STRANGLER_TLS_NAME", default, environ=environ)


T = TypeVar("T")
# How many times a load is made again while a rotation replaces its files under it.
LOAD_ATTEMPTS = 5


def _versions(paths: Sequence[str | os.PathLike[str]]) -> tuple:
    return tuple(file_version(path) for path in paths)


def built_from_one_version(
    build: Callable[[], T], paths: Sequence[str | os.PathLike[str]]
) -> tuple[T, tuple | None]:
    """`build()`, which reads `paths`, and the versions of those files it read (None when they
    kept changing under it: still a usable result, never one to cache as current).

    OpenSSL reads a key+certificate file twice, the certificate then the key: a rotation's rename
    between the two reads gives a pair that does not match (`KEY_VALUES_MISMATCH`). An error met
    while a file changed is that, and the build is made again; one met with the files unchanged
    is the files' own, and raised."""
    for attempt in range(LOAD_ATTEMPTS):
        before = _versions(paths)
        try:
            result = build()
        except ssl.SSLError:
            if _versions(paths) == before or attempt == LOAD_ATTEMPTS - 1:
                raise
            continue
        if _versions(paths) == before:
            return result, before
    return result, None


def load_identity(context: ssl.SSLContext, path: str | os.PathLike[str]) -> None:
    """`context.load_cert_chain` from the one file holding a key and its certificate, both
    read from the same version of it (`built_from_one_version`)."""
    built_from_one_version(lambda: context.load_cert_chain(certfile=path, keyfile=path), [path])


class GunicornServerContext:
    """gunicorn's `ssl_context` server hook (`ProblemThreadWorker` installs it): the context
    gunicorn's own factory builds, built again only when the certificate, key or CA file changed.

    gunicorn calls the hook for every new connection, so each connection re-read and re-parsed
    the files; and during a rotation a connection whose load met the rename between the
    certificate's read and the key's failed (`KEY_VALUES_MISMATCH`), which gunicorn answered
    with a plain-text HTTP error on the raw socket: the client read `wrong version number`. A
    changed file still takes effect at the next connection, as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[tuple, ssl.SSLContext] | None = None
        self.builds = 0

    def __call__(self, conf: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]):
        paths = [path for path in (conf.certfile, conf.keyfile, conf.ca_certs) if path]
        current = self._current
        if current is not None and current[0] == _versions(paths):
            return current[1]
        with self._lock:
            context, versions = built_from_one_version(default_ssl_context_factory, paths)
            self.builds += 1
            self._current = None if versions is None else (versions, context)
            return context


def client_context(
    name: str | None = None, *, environ: Mapping[str, str] | None = None
) -> ssl.SSLContext:
    """Verifies the server against the CA (hostname included) and presents `name`'s certificate."""
    name = name or own_name(environ=environ)
    context = ssl.create_default_context(cafile=str(ca_cert_path(environ=environ)))
    load_identity(context, identity_path(name, environ=environ))
    return context


def server_context(name: str, *, environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """What gunicorn builds from `gunicorn_args` (for servers that are not gunicorn)."""
    context = ssl.create_default_context(
        ssl.Purpose.CLIENT_AUTH, cafile=str(ca_cert_path(environ=environ))
    )
    load_identity(context, identity_path(name, environ=environ))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def upstream_ssl_context(
    *, environ: Mapping[str, str] | None = None, default_name: str = "proxy"
) -> ssl.SSLContext:
    """The proxy's context for https upstreams: mTLS when on, the system's trust when off."""
    if mtls_enabled(environ=environ):
        return client_context(own_name(environ=environ, default=default_name), environ=environ)
    return ssl.create_default_context()


def client_files(
    *, environ: Mapping[str, str] | None = None, default_name: str = "proxy"
) -> tuple[Path, Path] | None:
    """(this process's certificate and key file, the CA's certificate) when mTLS is on, for a
    client configured by files (the nginx plane); None when off."""
    if not mtls_enabled(environ=environ):
        return None
    name = own_name(environ=environ, default=default_name)
    return identity_path(name, environ=environ), ca_cert_path(environ=environ)


def urllib3_options(
    *, environ: Mapping[str, str] | None = None, default_name: str | None = None
) -> dict[str, Any]:
    """Extra `urllib3.PoolManager(...)` arguments: nothing when off, the client context when on."""
    if not mtls_enabled(environ=environ):
        return {}
    name = own_name(environ=environ, default=default_name)
    return {"ssl_context": client_context(name, environ=environ)}


def requests_session(*, environ: Mapping[str, str] | None = None) -> Any:
    """A `requests.Session` for an internal call: a plain one when mTLS is off; when on, it
    verifies the server against the CA and presents this process's certificate from a context
    loaded by `load_identity`. (Given the files, `cert=`/`verify=`, requests would load the pair
    itself at each new connection, reading it twice: a rotation between the reads failed it.)"""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    if not mtls_enabled(environ=environ):
        return session
    context = client_context(own_name(environ=environ), environ=environ)
    ca = str(ca_cert_path(environ=environ))

    class ContextAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, ssl_context=context, **kwargs)

        def send(self, request: Any, **kwargs: Any) -> Any:
            # The CA's file whatever the environment says: `REQUESTS_CA_BUNDLE` (or `verify=True`)
            # would add a public bundle to the context. The certificate is the context's.
            return super().send(request, **{**kwargs, "verify": ca, "cert": None})

    session.verify = ca
    session.mount("https://", ContextAdapter())
    return session


def gunicorn_args(name: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """gunicorn flags serving HTTPS that requires a client certificate signed by the CA.

    gunicorn asks for the SSL context at each new connection; `ProblemThreadWorker` answers with
    `GunicornServerContext`, built again from these paths when one changed, so a rotated
    certificate is served from the next connection on (a graceful reload, `kill -HUP <master>`,
    also starts workers with the configuration read again)."""
    identity = str(identity_path(name, environ=environ))
    return [
        "--certfile",
        identity,
        "--keyfile",
        identity,
        "--ca-certs",
        str(ca_cert_path(environ=environ)),
        "--cert-reqs",
        str(CERT_REQUIRED),
    ]


def https_url(url: str) -> str:
    """The same internal URL over TLS (`http://127.0.0.1:8002` -> `https://127.0.0.1:8002`)."""
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url
