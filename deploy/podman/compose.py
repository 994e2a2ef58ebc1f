"""The compose file podman runs here: docker-compose.yml with deploy/podman/compose-local.yml.

docker-compose.yml stays the one source of the app containers (commands, environment, volumes,
start order); this only swaps images, leaves out what has no local image and moves published
ports to free host ports, so a run never collides with a `make run` on the same machine.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "docker-compose.yml"
LOCAL = Path(__file__).resolve().parent / "compose-local.yml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _published(ports: list, host_ports: dict[int, int]) -> list[str]:
    container_ports = [int(str(p).rsplit(":", 1)[-1]) for p in ports]
    return [f"{host_ports[p]}:{p}" for p in container_ports if p in host_ports]


def _absolute(volume: str) -> str:
    return str(ROOT / volume[2:]) if volume.startswith("./") else volume


def local_compose(main: dict, local: dict, host_ports: dict[int, int]) -> dict:
    """`main` with `local`'s images and without `local["without"]`; a published container port
    goes to `host_ports[port]` (a port not listed there is not published)."""
    result = copy.deepcopy(main)
    services = result["services"]
    for name in local.get("without", []):
        services.pop(name, None)
    for service in services.values():
        if "build" in service:
            del service["build"]
            service["image"] = local["app_image"]
            env = service.get("environment", {})
            env.update({var: "" for var in local.get("unset_environment", []) if var in env})
        else:
            service.update(local["services"].get(name_of(services, service), {}))
        depends = service.get("depends_on")
        if isinstance(depends, dict):
            service["depends_on"] = {k: v for k, v in depends.items() if k in services}
        elif isinstance(depends, list):
            service["depends_on"] = [k for k in depends if k in services]
        published = _published(service.pop("ports", []), host_ports)
        if published:
            service["ports"] = published
        if "volumes" in service:
            service["volumes"] = [_absolute(v) for v in service["volumes"]]
    named = {v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", [])}
    result["volumes"] = {k: v for k, v in (result.get("volumes") or {}).items() if k in named}
    return result


def name_of(services: dict, service: dict) -> str:
    return next(name for name, s in services.items() if s is service)


@dataclass(frozen=True)
class Stages:
    """Start order podman-compose does not enforce (it awaits no health or completion)."""

    backing: list[str]  # servers: PostgreSQL, RabbitMQ, Redis
    migrate: list[str]  # one-shot `manage migrate` per database
    seed: list[str]  # one-shots after migrations (demo data, the fleet's certificates)
    processes: list[str]  # every Procfile process


def stages(compose: dict, app_image: str) -> Stages:
    services = compose["services"]
    app = {n: s for n, s in services.items() if s.get("image") == app_image}
    once = {n: s for n, s in app.items() if s.get("restart") == "no"}
    migrate = [n for n, s in once.items() if s["command"][:2] == ["manage", "migrate"]]
    return Stages(
        backing=[n for n in services if n not in app],
        migrate=migrate,
        seed=[n for n in once if n not in migrate],
        processes=[n for n in app if n not in once],
    )
