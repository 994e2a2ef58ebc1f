"""The port map: the one place that says which HTTP process listens where.

`make run`, the Procfile (`${<NAME>_PORT:-<port>}`), docker-compose.yml, k8s/ and the local
Prometheus config all follow it; tests/infra checks that they do. An extracted service adds its
line here when it gets its Procfile entry.
"""

from __future__ import annotations

PORTS: dict[str, int] = {
    "proxy": 8000,
    "monolith": 8001,
    "catalog": 8002,
    "notifications": 8003,
    "orders": 8004,
    "users": 8005,
}

# gRPC servers (HTTP/2, no /healthz: the standard grpc.health.v1 service answers instead), kept
# apart so that nothing probes or scrapes them as HTTP. The Procfile passes
# `--port ${<NAME>_PORT:-<port>}`; their clients find them at `127.0.0.1:<port>` locally.
GRPC_PORTS: dict[str, int] = {
    "catalog-grpc": 50051,
}


def port_env_var(name: str) -> str:
    """`monolith` -> `MONOLITH_PORT`, `extracted-catalog` -> `EXTRACTED_CATALOG_PORT`."""
    return name.upper().replace("-", "_") + "_PORT"


DEFAULT_PATHS = {"health": "/healthz", "ready": "/readyz", "metrics": "/metrics"}
# The proxy forwards every path but its own `/_strangler/` ones.
PATHS: dict[str, dict[str, str]] = {
    "proxy": {
        "health": "/_strangler/healthz",
        "ready": "/_strangler/healthz",
        "metrics": "/_strangler/metrics",
    },
}


def path_of(name: str, kind: str) -> str:
    """`kind` is health, ready or metrics: where probes and Prometheus ask this process."""
    return PATHS.get(name, {}).get(kind, DEFAULT_PATHS[kind])
