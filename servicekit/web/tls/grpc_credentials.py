"""mTLS for gRPC (docs/mtls.md): the server's credentials, re-read when the files change, and
the client's channel credentials, both from the files servicekit.web.tls names.

The server requires a client certificate signed by the CA bundle (`ca.crt`). Its key,
certificate and trusted CAs are re-read on the first handshake after either file changes
(grpc's dynamic credentials ask on every new connection), so a rotated certificate or a CA
rollover is served with no restart and no refused call; calls on existing connections go on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import grpc

from servicekit.web.files import file_version
from servicekit.web.tls import ca_cert_path, identity_path, mtls_enabled, own_name


def split_identity(pem: bytes) -> tuple[bytes, bytes]:
    """(private key, certificate chain) out of a `<name>.pem` (key then certificate)."""
    key: list[bytes] = []
    chain: list[bytes] = []
    for block in pem.split(b"-----BEGIN ")[1:]:
        block = b"-----BEGIN " + block.strip() + b"\n"
        (key if b"PRIVATE KEY-----" in block.split(b"\n", 1)[0] else chain).append(block)
    if len(key) != 1 or not chain:
        raise ValueError("an identity file holds one private key and its certificate")
    return key[0], b"".join(chain)


class ReloadingServerCertificates:
    """grpc's certificate fetcher for `name`: a new configuration when the identity or the CA
    file changed since the last read, None (keep the current one) otherwise."""

    def __init__(self, name: str, *, environ: Mapping[str, str] | None = None):
        self.identity = identity_path(name, environ=environ)
        self.ca = ca_cert_path(environ=environ)
        self._lock = threading.Lock()
        self._seen: tuple[tuple[int, int, int] | None, ...] | None = None
        self.loads = 0

    def load(self) -> grpc.ServerCertificateConfiguration:
        with self._lock:
            stamp = (file_version(self.identity), file_version(self.ca))
            key, chain = split_identity(self.identity.read_bytes())
            config = grpc.ssl_server_certificate_configuration(
                [(key, chain)], root_certificates=self.ca.read_bytes()
            )
            self._seen = stamp
            self.loads += 1
            return config

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            if (file_version(self.identity), file_version(self.ca)) == self._seen:
                return None
            return self.load()
        except (OSError, ValueError):
            return None  # a file being replaced: keep serving with the current pair


def server_credentials(
    name: str, *, environ: Mapping[str, str] | None = None
) -> grpc.ServerCredentials:
    """TLS requiring a client certificate from the CA, with `name`'s certificate, reloading."""
    fetcher = ReloadingServerCertificates(name, environ=environ)
    return grpc.dynamic_ssl_server_credentials(
        fetcher.load(), fetcher, require_client_authentication=True
    )


def channel_credentials(
    name: str | None = None, *, environ: Mapping[str, str] | None = None
) -> grpc.ChannelCredentials:
    """TLS presenting `name`'s certificate (default: STRANGLER_TLS_NAME), trusting the CA.
    Read once: a channel keeps its certificate until it is rebuilt (a reload of the process)."""
    name = name or own_name(environ=environ)
    key, chain = split_identity(identity_path(name, environ=environ).read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=ca_cert_path(environ=environ).read_bytes(),
        private_key=key,
        certificate_chain=chain,
    )


def secure_channel(
    target: str,
    *,
    server_name: str,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> grpc.Channel:
    """A channel to `target` that expects the certificate of `server_name` (the fleet's
    certificates carry their service's name, whatever host or address `target` uses)."""
    return grpc.secure_channel(
        target,
        channel_credentials(name, environ=environ),
        options=[("grpc.ssl_target_name_override", server_name)],
    )


def channel(
    target: str,
    *,
    server_name: str,
    environ: Mapping[str, str] | None = None,
    default_name: str | None = None,
) -> grpc.Channel:
    """The channel for an internal call: mTLS when the switch is on, plain otherwise."""
    if not mtls_enabled(environ=environ):
        return grpc.insecure_channel(target)
    return secure_channel(
        target,
        server_name=server_name,
        name=own_name(environ=environ, default=default_name),
        environ=environ,
    )
