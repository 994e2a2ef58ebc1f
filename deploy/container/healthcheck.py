"""Container health: an HTTP process answers `/healthz`, a gRPC server the standard health
check with SERVING (under mTLS, STRANGLER_MTLS=on, presenting the service's certificate); any
other process is alive if PID 1 is."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from servicekit.web.ports import GRPC_PORTS, PORTS, path_of, port_env_var

STATE = Path("/tmp/strangler-process")  # noqa: S108 - written by entrypoint.py


def main() -> int:
    if not STATE.exists():
        return 1
    name = STATE.read_text().splitlines()[0]
    if name in GRPC_PORTS:
        from servicekit.web.grpc_server import health_check
        from servicekit.web.tls.fleet import owner_of

        port = int(os.environ.get(port_env_var(name), GRPC_PORTS[name]))
        target = f"127.0.0.1:{port}"
        return 0 if health_check(target, timeout=3, server_name=owner_of(name)) else 1
    if name not in PORTS:
        return 0 if Path("/proc/1").exists() else 1
    port = int(os.environ.get(port_env_var(name), PORTS[name]))
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}{path_of(name, 'health')}", timeout=3
        ) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
