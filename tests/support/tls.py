"""A local CA for tests (servicekit.web.tls.ca) and what a server presents on a new connection."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cryptography import x509

from servicekit.web.tls.ca import ca_init, identity_issue


def local_ca(data: Path, *names: str) -> dict[str, str]:
    """A CA and `names`' certificates under `data/tls`: the variables that point at them."""
    env = {"STRANGLER_DATA_DIR": str(data), "STRANGLER_TLS_DIR": str(data / "tls")}
    ca_init(environ=env)
    for name in names:
        identity_issue(name, environ=env)
    return env


def served_certificate(port: int, context: ssl.SSLContext) -> x509.Certificate:
    """The certificate a new TLS connection to 127.0.0.1:`port` is served with (a gRPC server
    wants a context offering h2: `context.set_alpn_protocols(["h2"])`)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
