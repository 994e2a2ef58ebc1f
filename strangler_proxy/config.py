"""The proxy's configuration, typed, with every default in one place.

`settings.STRANGLER_PROXY` (a dict, upper-case keys, read from the environment by settings.py,
overridden per test) becomes a `ProxyConfig` in `strangler_proxy.runtime`; a key left out
takes the default written here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from servicekit.web.control_store import ControlSettings

_CONTROL = ControlSettings()


@dataclass(frozen=True)
class ProxyConfig:
    routes_file: str
    jwks_url: str
    shadow_diffs_file: str
    check_interval: float = 1.0
    max_body: int = 10 * 1024 * 1024
    buffer_limit: int = 256 * 1024
    pool_size: int = 32
    jwt_issuer: str = "strangler-users"
    jwt_audience: str = "strangler"
    admin_token: str = ""
    redis_url: str = ""
    # the shared control store (empty: the files) and every Redis key's deployment prefix
    control_store: str = _CONTROL.store
    redis_prefix: str = _CONTROL.prefix
    control_ttl: float = _CONTROL.ttl
    control_wait: float = _CONTROL.wait
    zookeeper_hosts: str = ""
    health_checks: bool = True
    shadow_workers: int = 4
    capture: bool = True
    capture_file: str = ""  # default: shadow-capture.jsonl beside the shadow diffs
    lifecycle_dir: str = ""  # default: the folder of the shadow diffs
    lifecycle_evaluator: bool = False
    lifecycle_interval: float = 5.0
    # the control centre's plots: seconds between samples of counters, breakers, outbox lag
    control_series_step: float = 5.0
    # X-Strangler-Canary: off; when on, only from admin/staff tokens or with the secret
    trust_canary_header: bool = False
    canary_secret: str = ""
    # upstreams' operational endpoints, for admin or staff tokens only (404 to anyone else)
    admin_only_paths: tuple[str, ...] = ("/metrics", "/readyz", "/api/schema", "/api/docs")
    tracing: bool = False
    # peers whose X-Forwarded-* are believed (an ingress); empty: none, the proxy is the edge
    forwarded_allow_ips: str = ""
    access_log: bool = True
    # seconds between writes of the access lines' batches (0: each line written at once)
    access_log_flush: float = 1.0
    # the nginx data plane (strangler_proxy/export): where its generated config is written on
    # every change of the route table, the command that reloads nginx, where nginx listens
    nginx_conf: str = ""
    nginx_reload: str = ""
    nginx_listen: str = "127.0.0.1:8080"
    nginx_client_timeout: float = 10.0  # seconds for a client's headers, and between body reads
    nginx_comparator: str = ""  # the Python proxy's URL: nginx mirrors shadow routes' reads there
    # nginx's JSON access log (access.log under its prefix): the lifecycle gates count it too
    nginx_access_log: str = ""

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> ProxyConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k.lower(): v for k, v in values.items() if k.lower() in known})

    @property
    def control(self) -> ControlSettings:
        return ControlSettings(
            store=self.control_store,
            prefix=self.redis_prefix,
            ttl=self.control_ttl,
            wait=self.control_wait,
        )

    @property
    def capture_path(self) -> Path:
        return Path(
            self.capture_file or Path(self.shadow_diffs_file).with_name("shadow-capture.jsonl")
        )

    @property
    def lifecycle_folder(self) -> Path:
        return Path(self.lifecycle_dir or Path(self.shadow_diffs_file).parent)


def current() -> ProxyConfig:
    """The proxy's configuration in this process, from Django's settings: the proxy's server,
    its tests, and its CLI (`python -m strangler_proxy` runs under strangler_proxy.settings)."""
    from django.conf import settings

    return ProxyConfig.from_settings(settings.STRANGLER_PROXY)


def default(name: str) -> Any:
    """The default of one field (settings.py uses it when the environment says nothing)."""
    return next(f.default for f in fields(ProxyConfig) if f.name == name)
