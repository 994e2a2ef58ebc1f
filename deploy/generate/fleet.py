"""The fleet: which services, processes and ports exist, read from the Procfile and servicekit.web.ports.

The Procfile gives a process per container/Deployment, the port map (servicekit/web/ports.py) its
port and the settings modules the services (one service, one database, one migrate step per
Django project).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from servicekit.web.ports import PORTS
from servicekit.web.procfile import bind_of, read_procfile, settings_module_of

ROOT = Path(__file__).resolve().parents[2]
# The services that issue tokens share one key ring (servicekit/web/jwt/keyring.py): a token signed
# by either verifies everywhere, and a rotation by one is seen by the other at once.
ISSUERS = ("monolith", "users")
JWKS_PATH = "/.well-known/jwks.json"
# Where the fleet's CA and certificates are mounted (STRANGLER_TLS_DIR; docs/mtls.md), in compose
# and in Kubernetes alike.
TLS_DIR = "/var/lib/strangler/tls"
_CONSUMER = re.compile(r"\binbox_consume\s+(\S+)")
_QUEUES = re.compile(r"(?:--queues|-Q)[\s=]+(\S+)")
_UPSTREAM_VAR = re.compile(r"\$\{(STRANGLER_[A-Z0-9_]+_URL)(?::?-[^}]*)?\}")


@dataclass
class Process:
    name: str
    command: str
    service: str
    port: int | None  # HTTP processes only
    kind: str  # web, celery, consumer, relay, other
    queues: list[str] = field(default_factory=list)


@dataclass
class Service:
    name: str  # proxy, monolith, catalog, ...
    module: str  # its settings module
    processes: list[Process] = field(default_factory=list)

    @property
    def has_database(self) -> bool:
        return self.name != "proxy"

    @property
    def extracted(self) -> bool:
        return self.module.startswith("extracted.")

    @property
    def web(self) -> Process | None:
        return next((p for p in self.processes if p.kind == "web"), None)


def service_name_of(module: str) -> str:
    package = module.rsplit(".", 1)[0].split(".")[-1]
    return "proxy" if package == "strangler_proxy" else package


def settings_modules() -> list[str]:
    found = []
    for package in [ROOT / "monolith", ROOT / "strangler_proxy", *sorted(ROOT.glob("extracted/*"))]:
        if (package / "settings.py").exists() or (package / "settings" / "__init__.py").exists():
            found.append(".".join(package.relative_to(ROOT).parts) + ".settings")
    return found


def kind_of(command: str) -> str:
    if bind_of(command):
        return "web"
    if re.search(r"\bcelery\b.*\bworker\b", command):
        return "celery"
    if _CONSUMER.search(command):
        return "consumer"
    if re.search(r"\boutbox_relay\b", command):
        return "relay"
    return "other"


def fleet() -> dict[str, Service]:
    """Services by name, each with its Procfile processes (in Procfile order)."""
    services = {service_name_of(m): Service(service_name_of(m), m) for m in settings_modules()}
    for name, command in read_procfile(ROOT / "Procfile").items():
        module = settings_module_of(command, ROOT)
        if module is None or service_name_of(module) not in services:
            raise SystemExit(f"Procfile {name}: cannot tell which service it runs ({command})")
        kind = kind_of(command)
        queues = []
        if kind == "celery" and (match := _QUEUES.search(command)):
            queues = match.group(1).split(",")
        if kind == "consumer":
            queues = [_CONSUMER.search(command).group(1)]
        if kind == "web" and name not in PORTS:
            raise SystemExit(f"Procfile {name} listens but has no port in servicekit/web/ports.py")
        services[service_name_of(module)].processes.append(
            Process(name, command, service_name_of(module), PORTS.get(name), kind, queues)
        )
    return services


def web_address(services: dict[str, Service], name: str) -> str:
    web = services[name].web
    if web is None:
        raise SystemExit(f"{name} has no HTTP process in the Procfile")
    return f"http://{web.name}:{web.port}"


def upstream_vars() -> dict[str, str]:
    """`STRANGLER_CATALOG_URL` -> `catalog`: the URL variables of the proxy's route table."""
    table = yaml.safe_load((ROOT / "strangler_proxy" / "routes.yaml").read_text())
    found = {}
    for upstream, spec in table.get("upstreams", {}).items():
        for instance in spec.get("instances", []):
            for var in _UPSTREAM_VAR.findall(str(instance)):
                found[var] = upstream
    return found
