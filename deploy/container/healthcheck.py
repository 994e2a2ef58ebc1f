"""Container health: an HTTP process answers `/healthz`, a gRPC server the standard health
check with SERVING; any other process is alive if PID 1 is.

With `STRANGLER_MTLS=on` a service refuses plain connections: the check calls it over HTTPS (a
gRPC server over TLS) with its own service's certificate (the image's HEALTHCHECK, and
Kubernetes' exec probes, since a kubelet's HTTP probe cannot present one; docs/mtls.md)."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from servicekit.web.ports import GRPC_PORTS, PORTS, path_of, port_env_var
from servicekit.web.tls import client_context, mtls_enabled
from servicekit.web.tls.fleet import EDGE, owner_of

STATE = Path("/tmp/strangler-process")  # noqa: S108 - written by entrypoint.py


def main(kind: str = "health") -> int:
    """0 when this container's process is healthy (`kind="ready"`: ready to serve)."""
    if not STATE.exists():
        return 1
    name = STATE.read_text().splitlines()[0]
    if name in GRPC_PORTS:
        from servicekit.web.grpc_server import health_check

        port = int(os.environ.get(port_env_var(name), GRPC_PORTS[name]))
        target = f"127.0.0.1:{port}"
        return 0 if health_check(target, timeout=3, server_name=owner_of(name)) else 1
    if name not in PORTS:
        return 0 if Path("/proc/1").exists() else 1
    port = int(os.environ.get(port_env_var(name), PORTS[name]))
    scheme, context = "http", None
    if mtls_enabled() and name != EDGE:  # the proxy's public port stays plain
        scheme, context = "https", client_context(owner_of(name))
    try:
        with urllib.request.urlopen(  # noqa: S310 - our own scheme
            f"{scheme}://127.0.0.1:{port}{path_of(name, kind)}", timeout=3, context=context
        ) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
