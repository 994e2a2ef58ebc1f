"""Loading a key+certificate file while a rotation replaces it, and gunicorn's SSL context hook.

OpenSSL reads the one file twice (the certificate, then the key). A rotation's rename between
the two reads gave a pair that does not match; under gunicorn, which asked for a context at each
new connection and built it from the files, that connection was answered with a plain-text HTTP
error on the TLS socket (the client read `wrong version number`, a rare failure of
tests/proxy/test_mtls.py's rotation test in CI)."""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import subprocess
import threading
import time

import pytest
import urllib3
from cryptography.hazmat.primitives.serialization import Encoding
from gunicorn import sock as gunicorn_sock
from gunicorn.config import Config

from servicekit.web.files import atomic_write
from servicekit.web.gunicorn_worker import ProblemThreadWorker
from servicekit.web.jwt.keys import SigningKey, generate_private_pem
from servicekit.web.jwt.verifiers import JwksKeys
from servicekit.web.tls import (
    GunicornServerContext,
    client_context,
    gunicorn_args,
    identity_path,
    requests_session,
    server_context,
)
from servicekit.web.tls.ca import certificate_of, identity_rotate
from tests.support import fleet
from tests.support.processes import stop_process
from tests.support.tls import local_ca
from tests.support.wait import wait_for


@pytest.fixture
def tls_env(tmp_path) -> dict[str, str]:
    return local_ca(tmp_path, "catalog", "proxy")


def _gunicorn_config(tls_env) -> Config:
    """gunicorn's configuration from `gunicorn_args`, as its command line sets it."""
    config = Config()
    args = gunicorn_args("catalog", environ=tls_env)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        config.set(flag.removeprefix("--").replace("-", "_"), value)
    return config


def _rotating(tls_env, *names: str):
    """A thread rotating `names` every few milliseconds until the returned event is set (a
    build takes a few: back to back, no build would ever read one version)."""
    stop = threading.Event()
    rotations = [0]

    def rotate() -> None:
        while not stop.is_set():
            for name in names:
                identity_rotate(name, environ=tls_env)
            rotations[0] += 1
            stop.wait(0.005)

    thread = threading.Thread(target=rotate, daemon=True)
    thread.start()
    return stop, thread, rotations


def _loads_meeting_rotations(rotations: list[int], wanted: int = 40):
    """Iterations until `wanted` rotations happened meanwhile (at least 200 loads; 60 s at most)."""
    deadline = time.monotonic() + 60
    loads = 0
    while loads < 200 or rotations[0] < wanted:
        assert time.monotonic() < deadline, f"{rotations[0]} rotations in 60 s"
        yield loads
        loads += 1


def _served_certificate_der(context: ssl.SSLContext) -> bytes:
    """The certificate a server context presents (its handshake with an in-memory client)."""
    client_side = ssl.create_default_context()
    client_side.check_hostname = False
    client_side.verify_mode = ssl.CERT_NONE
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = context.wrap_bio(to_server, to_client, server_side=True)
    client = client_side.wrap_bio(to_client, to_server)
    for _ in range(4):  # the client's hello, the server's answer: no certificate asked of it
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
                side.do_handshake()
    return client.getpeercert(binary_form=True) or b""


def test_client_contexts_load_during_rotations_without_a_mixed_pair(tls_env):
    stop, thread, rotations = _rotating(tls_env, "proxy")
    try:
        for _ in _loads_meeting_rotations(rotations):
            client_context("proxy", environ=tls_env)  # KEY_VALUES_MISMATCH, read one at a time
    finally:
        stop.set()
        thread.join(10)


def test_gunicorns_hook_builds_again_only_when_a_file_changed(tls_env):
    config = _gunicorn_config(tls_env)
    hook = GunicornServerContext()
    config.set("ssl_context", hook)

    first = gunicorn_sock.ssl_context(config)
    assert gunicorn_sock.ssl_context(config) is first  # no file changed: the same context
    assert hook.builds == 1
    assert first.verify_mode == ssl.CERT_REQUIRED  # gunicorn's own factory made it (--cert-reqs)

    new_path, _ = identity_rotate("catalog", environ=tls_env)
    second = gunicorn_sock.ssl_context(config)
    assert second is not first and hook.builds == 2
    new = certificate_of(new_path).public_bytes(Encoding.DER)
    assert _served_certificate_der(second) == new
    assert _served_certificate_der(first) != new


def test_gunicorns_hook_serves_throughout_rotations(tls_env):
    config = _gunicorn_config(tls_env)
    config.set("ssl_context", GunicornServerContext())
    stop, thread, rotations = _rotating(tls_env, "catalog")
    try:
        for _ in _loads_meeting_rotations(rotations):
            gunicorn_sock.ssl_context(config)
    finally:
        stop.set()
        thread.join(10)


def test_a_pair_that_does_not_match_is_still_an_error(tls_env):
    """An error met while the files stay as they are is the files' own: raised, not retried
    away (gunicorn then refuses the connection, as with its own factory)."""
    config = _gunicorn_config(tls_env)
    config.set("ssl_context", GunicornServerContext())
    _mismatch(identity_path("catalog", environ=tls_env), tls_env)

    with pytest.raises(ssl.SSLError, match="KEY_VALUES_MISMATCH"):
        gunicorn_sock.ssl_context(config)


def test_the_services_worker_installs_the_hook_when_serving_tls(tls_env, monkeypatch):
    seen = {}

    def init_process(self):
        seen["hook"] = self.cfg.ssl_context

    monkeypatch.setattr("gunicorn.workers.gthread.ThreadWorker.init_process", init_process)
    for config, expected in ((_gunicorn_config(tls_env), GunicornServerContext), (Config(), None)):
        worker = ProblemThreadWorker.__new__(ProblemThreadWorker)
        worker.cfg = config
        worker.init_process()
        assert isinstance(seen["hook"], GunicornServerContext) == (expected is not None)


def test_a_server_that_cannot_set_up_tls_closes_and_says_why(tls_env, tmp_path):
    """Its pair no longer matching, the catalog closes each connection and logs the cause as
    its own error; gunicorn alone wrote a plain-text 400 into the TLS connection (the client
    read `wrong version number`) and logged the client's 'Invalid request'."""
    service = fleet.catalog(tmp_path / "catalog", env=tls_env)
    service.data_dir.mkdir(parents=True, exist_ok=True)
    service.run("migrate", "--noinput", "-v", "0")
    url = f"https://127.0.0.1:{service.port}/healthz"
    context = client_context("proxy", environ=tls_env)
    with open(service.log_path, "wb") as log:
        process = subprocess.Popen(
            [*service.serve_command(service.port), *gunicorn_args("catalog", environ=tls_env)],
            cwd=fleet.ROOT,
            env=service.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: _status(url, context) == 200,
                timeout=60,
                what="the catalog over mTLS",
                ignore=(urllib3.exceptions.HTTPError,),
            )
            _mismatch(identity_path("catalog", environ=tls_env), tls_env)

            # closed (reset: the client's hello unread), never a plain-text answer
            with pytest.raises(urllib3.exceptions.HTTPError) as refused:
                _status(url, context)
            assert "WRONG_VERSION_NUMBER" not in str(refused.value)
        finally:
            stop_process(process)
    output = service.output()
    assert "TLS could not be set up for a connection" in output, output[-2000:]
    assert "KEY_VALUES_MISMATCH" in output
    assert "Invalid request" not in output


def _status(url: str, context: ssl.SSLContext) -> int:
    http = urllib3.PoolManager(ssl_context=context)
    try:
        return http.request("GET", url, timeout=5.0, retries=False).status
    finally:
        http.clear()


def _mismatch(pair, tls_env) -> None:
    """`pair` rewritten (atomically) with another identity's key before its own certificate."""
    other = identity_path("proxy", environ=tls_env).read_bytes()
    own = pair.read_bytes()
    end_of_key = other.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----\n")
    atomic_write(pair, other[:end_of_key] + own[own.index(b"-----BEGIN CERTIFICATE") :], mode=0o600)


def test_a_jwks_fetch_over_mtls_presents_the_callers_certificate_through_rotations(
    tls_env, monkeypatch
):
    """The JWKS fetch (requests) presents the caller's certificate from a context loaded by
    `load_identity`; given the files, requests loaded the pair itself at each connection."""
    server = _jwks_server(server_context("catalog", environ=tls_env))
    for name, value in {**tls_env, "STRANGLER_MTLS": "on", "STRANGLER_TLS_NAME": "proxy"}.items():
        monkeypatch.setenv(name, value)
    keys = JwksKeys(f"https://127.0.0.1:{server.server_port}/.well-known/jwks.json")
    stop, thread, rotations = _rotating(tls_env, "proxy")
    try:
        for _ in _loads_meeting_rotations(rotations, wanted=20):
            assert list(keys._download()) == ["k1"]
    finally:
        stop.set()
        thread.join(10)
        server.shutdown()
    assert server.clients >= 200  # every fetch a new connection, each presenting a certificate


def _jwks_server(context: ssl.SSLContext):
    """An HTTPS server on a free port (client certificates required) answering a JWKS."""
    key = SigningKey.from_pem(generate_private_pem())
    body = json.dumps({"keys": [{**key.public_jwk(), "kid": "k1"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.connection.getpeercert()  # the CA vouched for the caller
            self.server.clients += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.clients = 0
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_internal_session_trusts_the_ca_alone_whatever_the_environment_says(
    tls_env, monkeypatch
):
    server = _jwks_server(server_context("catalog", environ=tls_env))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    caller = {**tls_env, "STRANGLER_MTLS": "on", "STRANGLER_TLS_NAME": "proxy"}
    try:
        with requests_session(environ=caller) as session:
            url = f"https://127.0.0.1:{server.server_port}/.well-known/jwks.json"
            assert session.get(url, timeout=5).status_code == 200
            pool = session.get_adapter(url).poolmanager
            context = pool.connection_pool_kw["ssl_context"]
    finally:
        server.shutdown()
    # the local CA only: the environment's public bundle was not added to it
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("organizationName", "strangler local CA"),), (("commonName", "strangler local CA"),))
    ]
