"""The parity corpus through the proxy, on both planes: the same route table served by the
Python proxy and by nginx fed `python -m strangler_proxy export nginx`'s configuration, the
service's routes `extracted`. A read is asked of the service directly and through each plane; a
write is sent once (each side performs the corpus's writes exactly once), through nginx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from strangler_proxy.upstream.forward import FALLBACK_SAFE
from tests.parity.harness import Answer, Rules, Scenario, difference, send
from tests.proxy.conftest import routes_yaml, upstream_spec, write_routes
from tests.proxy.nginx_plane import NginxPlane
from tests.proxy.processes import ProxyProcess

WRITES_THROUGH = "nginx"


@contextmanager
def planes(folder: Path, monolith, service, prefixes: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """{"python": url, "nginx": url}: both planes sending `prefixes` to the running `service`
    (a tests.support.fleet.DjangoService), everything else to `monolith`."""
    name, url = service.name, service.url
    routes = [
        {"name": f"{name}-{index}", "prefix": prefix, "mode": "extracted", "upstream": name}
        for index, prefix in enumerate(prefixes)
    ]
    ups = {"monolith": upstream_spec(monolith.url), name: upstream_spec(url)}
    table = routes_yaml(ups, routes)
    folder.mkdir(parents=True, exist_ok=True)
    path = write_routes(folder / "routes.yaml", table)
    with (
        ProxyProcess(path, data_dir=folder / "proxy", workers=1) as proxy,
        NginxPlane(path, folder / "nginx") as nginx,
    ):
        yield {"python": proxy.url, "nginx": nginx.url}


def service_bases(scenario: Scenario, direct: str, through: dict[str, str]) -> dict[str, str]:
    """Where to ask the service for `scenario`: a read directly and through every plane, a
    write once, through nginx."""
    if scenario.method in FALLBACK_SAFE:
        return {"direct": direct, **through}
    return {WRITES_THROUGH: through[WRITES_THROUGH]}


@dataclass(frozen=True)
class Sides:
    """What a parity module's fixture yields: the two sides (each with `.url`), the demo users'
    tokens, one HTTP pool, and the planes' URLs (`planes`)."""

    monolith: Any
    service: Any
    tokens: dict[str, str]
    http: urllib3.PoolManager
    through: dict[str, str]


def assert_service_matches(sides: Sides, scenario: Scenario, rules: Rules, *, label: str) -> Answer:
    """The monolith's answer (returned) equals the service's, wherever the service is asked."""
    token = sides.tokens.get(scenario.user)
    request_id = "parity-" + scenario.name.replace(" ", "-")
    left = send(sides.http, sides.monolith.url, scenario, token=token, request_id=request_id)
    for plane, base in service_bases(scenario, sides.service.url, sides.through).items():
        right = send(sides.http, base, scenario, token=token, request_id=request_id)
        diff = difference(left, right, rules, labels=("monolith", f"{label} ({plane})"))
        assert diff is None, f"{scenario.method} {scenario.path} via {plane} differs:\n{diff}"
    return left
