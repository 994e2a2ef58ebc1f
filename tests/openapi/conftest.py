"""The five services as real processes (gunicorn), and two proxies in front of them.

`proxy_as_shipped` runs the packaged route table (every route on the monolith); in
`proxy_extracted` every route with an extracted upstream is flipped to it. On the real pass
(DATABASE_URL set) each service gets a PostgreSQL database of its own (tests/support/fleet.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import urllib3
import yaml

from tests.proxy.processes import ProxyProcess
from tests.support import fleet

SERVICES = ("monolith", "catalog", "notifications", "users", "orders")

# Customer and staff of the monolith's demo data (monolith/storefront/demo.py).
LOGINS = {"customer": ("alice", "alice-demo-pass"), "staff": ("staff", "staff-demo-pass")}


def _service(name: str, data: Path) -> fleet.DjangoService:
    if name == "monolith":
        return fleet.monolith(data, setup=[["seed_demo"]])
    return fleet.DjangoService(
        name,
        settings=f"extracted.{name}.settings",
        manage=f"extracted/{name}/manage.py",
        wsgi=f"extracted.{name}.wsgi:application",
        data_dir=data,
    )


def _proxy(name: str, *, routes: dict, env: dict[str, str], data: Path) -> ProxyProcess:
    """The proxy under gunicorn on a free port with its own route table (and log, by name)."""
    routes_file = data / f"{name}-routes.yaml"
    routes_file.write_text(yaml.safe_dump(routes, sort_keys=False))
    quiet = {
        "STRANGLER_PROXY_THREADS": "8",
        "STRANGLER_HEALTH_CHECKS": "false",
        "STRANGLER_CAPTURE": "false",
    }
    return ProxyProcess(routes_file, data_dir=data, name=name, workers=1, env={**env, **quiet})


def flipped(routes: dict) -> dict:
    """The packaged route table with every route that names an extracted upstream on it."""
    flipped = {**routes, "routes": []}
    for route in routes["routes"]:
        route = dict(route)
        if route.get("upstream") not in (None, routes["default_upstream"]):
            route["mode"] = "extracted"
            route.pop("fallback", None)
            route.pop("shadow", None)
        flipped["routes"].append(route)
    return flipped


@dataclass
class OpenApiFleet:
    services: dict[str, fleet.DjangoService]
    proxies: dict[str, ProxyProcess]
    tokens: dict[str, str] = field(default_factory=dict)
    session_cookie: str = ""
    schemas: dict[str, dict] = field(default_factory=dict)

    def url(self, service: str, via: str) -> str:
        if via == "direct":
            return self.services[service].url
        return self.proxies["as_shipped" if service == "monolith" else "extracted"].url

    def schema(self, service: str) -> dict:
        if service not in self.schemas:
            response = urllib3.request(
                "GET", f"{self.services[service].url}/api/schema/?format=json", timeout=30
            )
            assert response.status == 200, response.data[:500]
            self.schemas[service] = response.json()
        return self.schemas[service]


def _login(url: str, username: str, password: str) -> str:
    response = urllib3.request(
        "POST",
        f"{url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )
    assert response.status == 200, response.data[:500]
    return response.json()["access"]


_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.get(username={username!r})
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


@pytest.fixture(scope="session")
def openapi_fleet(tmp_path_factory) -> Iterator[OpenApiFleet]:
    data = tmp_path_factory.mktemp("openapi-fleet")
    services = {name: _service(name, data) for name in SERVICES}
    monolith = services["monolith"]
    env = {
        "JWKS_URL": f"{monolith.url}/.well-known/jwks.json",
        "STRANGLER_JWKS_URL": f"{monolith.url}/.well-known/jwks.json",
        # One key ring for the two signers (monolith and users), as `make run` shares it.
        "JWT_KEYS_DIR": str(data / "jwt"),
        **{f"STRANGLER_{name.upper()}_URL": svc.url for name, svc in services.items()},
        # the orders quote asks the catalog: a busy CI machine must not turn it into a 503
        "ORDERS_CATALOG_DEADLINE": "10",
    }
    for svc in services.values():
        svc.env.update(env)
    # Each schema is checked where its service owns its data, as after its takeover: the
    # monolith owns everything in its own run, each extracted service its own entities
    # (elsewhere a write answers 503 owner_moving, which is not the contract under test).
    (data / "monolith-owns.yaml").write_text("{}\n")
    (data / "services-own.yaml").write_text(
        "product: catalog\ninventory: catalog\nnotification: notifications\n"
        "user: users\norder: orders\n"
    )
    for name, svc in services.items():
        owners = "monolith-owns.yaml" if name == "monolith" else "services-own.yaml"
        svc.env["OWNERSHIP_FILE"] = str(data / owners)
    routes = yaml.safe_load((fleet.ROOT / "strangler_proxy" / "routes.yaml").read_text())
    proxy_env = {
        k: v for k, v in monolith.env.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    with contextlib.ExitStack() as stack:
        # the services, then the proxies, start side by side (`make run` starts them together)
        fleet.enter_together(stack, services.values())
        as_shipped, extracted = fleet.enter_together(
            stack,
            [
                _proxy("proxy-as-shipped", routes=routes, env=proxy_env, data=data),
                _proxy("proxy-extracted", routes=flipped(routes), env=proxy_env, data=data),
            ],
        )
        result = OpenApiFleet(
            services=services, proxies={"as_shipped": as_shipped, "extracted": extracted}
        )
        for role, (username, password) in LOGINS.items():
            result.tokens[role] = _login(monolith.url, username, password)

        # The extracted services start from the monolith's data, as after their backfill, so
        # their operations answer with real rows (and the customer's token names a known user).
        # Each fills its own database from the monolith's export API: side by side.
        def backfill(name: str) -> str:
            command = (f"{name}_backfill", "--source", monolith.url)
            return services[name].run(*command, "--token", result.tokens["staff"]).stdout

        extracted_services = ("catalog", "notifications", "users", "orders")
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            for name, out in zip(
                extracted_services, pool.map(backfill, extracted_services), strict=True
            ):
                sys.stdout.write(f"{name}: {out.strip()}\n")
        result.session_cookie = monolith.run(
            "shell", "-c", _SESSION.format(username=LOGINS["staff"][0])
        ).stdout.split()[-1]
        yield result
        for name, svc in services.items():
            sys.stdout.write(f"--- {name} log tail ---\n{svc.output()[-2000:]}\n")
