"""Real data stores serving TLS on free ports, for the clients' TLS tests (tests/servicekit/test_store_tls.py).

Redis and PostgreSQL are servers of their own (redis-server with `--tls-port`; a throwaway
PostgreSQL 15 cluster with `ssl=on` and only `hostssl` in pg_hba.conf); RabbitMQ is the
machine's own, behind a TLS-terminating relay, so the client still does the real handshake and
verification. Each certificate is a service certificate of the project's CA (servicekit.web.tls.ca:
names 127.0.0.1, ::1, localhost). Given `clients=` (a CA file), each server also requires a client
certificate that CA signed. Nothing here touches the machine's running servers.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import free_port, stop_processes
from tests.support.wait import wait_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def tls_redis(
    identity: Path, ca: Path, folder: Path, *, clients: Path | None = None
) -> Iterator[int]:
    """redis-server on a free TLS port only (no plain port), serving `identity` (key + cert);
    with `clients` (a CA file), only to a client showing a certificate that CA signed."""
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    command = [
        "redis-server",
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", str(identity),
        "--tls-key-file", str(identity),
        "--tls-ca-cert-file", str(clients or ca),
        "--tls-auth-clients", "yes" if clients else "no",
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
    ]  # fmt: skip
    with open(folder / "redis.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port("127.0.0.1", port, timeout=15)
        yield port
    finally:
        stop_processes([process])


def _as_postgres(*command: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
    )


@contextlib.contextmanager
def tls_postgres(identity: Path, *, clients: Path | None = None) -> Iterator[int]:
    """A throwaway PostgreSQL 15 cluster on a free port, TLS only, `postgres` trusted; with
    `clients` (a CA file), only a client showing a certificate that CA signed."""
    if not (POSTGRES_BIN / "initdb").exists():
        raise RuntimeError(f"{POSTGRES_BIN}/initdb is not installed")
    # Outside pytest's tmp_path: the server runs as `postgres`, which cannot enter root's 0700 one.
    folder = Path(tempfile.mkdtemp(prefix="strangler-pgtls-"))
    folder.chmod(0o755)
    data = folder / "data"
    key = folder / "server.pem"
    shutil.copyfile(identity, key)
    user = pwd.getpwnam("postgres")
    os.chown(folder, user.pw_uid, user.pw_gid)
    os.chown(key, user.pw_uid, user.pw_gid)
    key.chmod(0o600)  # PostgreSQL refuses a key others can read
    client_ca = folder / "clients.crt"
    if clients:
        shutil.copyfile(clients, client_ca)
        client_ca.chmod(0o644)
    port = free_port()
    started = False
    try:
        _as_postgres(
            str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{folder}'\nssl = on\n"
                f"ssl_cert_file = '{key}'\nssl_key_file = '{key}'\nfsync = off\n"
                + (f"ssl_ca_file = '{client_ca}'\n" if clients else "")
            )
        # TLS or nothing: a client that does not ask for TLS is refused (and, with `clients`,
        # one without a certificate that CA signed)
        require = " clientcert=verify-ca" if clients else ""
        (data / "pg_hba.conf").write_text(
            f"local all all trust\nhostssl all all 127.0.0.1/32 trust{require}\n"
        )
        pg_ctl = str(POSTGRES_BIN / "pg_ctl")
        _as_postgres(pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "30", "start")
        started = True
        yield port
    finally:
        if started:
            _as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def tls_relay(
    identity: Path,
    target: tuple[str, int],
    host: str = "127.0.0.1",
    *,
    clients: Path | None = None,
) -> Iterator[int]:
    """A TLS-terminating relay on a free port of `host` in front of `target` (a plain TCP
    server): the client's handshake meets `identity`'s certificate, the bytes go on as they are.
    (Another loopback address, 127.0.0.2, is one the certificate does not name.) With `clients`
    (a CA file), a client must show a certificate that CA signed (RabbitMQ's
    `fail_if_no_peer_cert`)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=str(identity), keyfile=str(identity))
    if clients:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(clients))
    listener = socket.create_server((host, 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def serve(raw: socket.socket) -> None:
        raw.settimeout(10)
        client = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            client.do_handshake()
            client.settimeout(None)
        except OSError:  # either side refused the other's certificate: nothing to relay
            # Read what the client sent before closing: closed with bytes unread, the socket
            # would be reset and the client see EOF instead of the alert (`certificate required`).
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
                while client.recv(65536):
                    pass
            client.close()
            return
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
        sockets.extend([client, upstream])
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(raw,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield port
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
