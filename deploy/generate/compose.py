"""docker-compose.yml: a container per Procfile process, a migrate step per database, the backing
containers of deploy/compose-backing.yml."""

from __future__ import annotations

import yaml

from deploy.generate.fleet import (
    ISSUERS,
    JWKS_PATH,
    ROOT,
    TLS_DIR,
    Service,
    upstream_vars,
    web_address,
)
from servicekit.web.env import database_url_var

OWNERSHIP_DIR_COMPOSE = "/var/lib/strangler/ownership"
# The Python proxy's data folder on a volume it shares with the nginx edge, laid out as `make run
# --plane nginx` lays out its own: the live route table (`routes.yaml`: the proxy writes it, the
# edge follows it), lifecycle state, and under `nginx/` the generated nginx.conf, nginx's JSON
# access log (the proxy's lifecycle gates count it), pid and temp folders (deploy/container/edge.py).
PROXY_DATA_DIR_COMPOSE = "/var/lib/strangler/proxy"
# mTLS inside (docs/mtls.md): `STRANGLER_MTLS=on docker compose up` serves every service but the
# proxy's public port over HTTPS requiring a client certificate. The `certificates` one-shot makes
# the fleet's CA and a certificate per service on this volume (servicekit.web.tls.ca, kept if
# present); every other container mounts it read-only, and the image's entry point runs each
# process as `make run` does under the switch (deploy/container/entrypoint.py).
TLS_DIR_COMPOSE = TLS_DIR
CERTIFICATES = "certificates"
JWT_KEYS_DIR_COMPOSE = "/var/lib/strangler/jwt"
# One-shot steps after a service's migrations, as `make run` does them (scripts/run.py).
SEED_COMMANDS = {"monolith": ["manage", "seed_demo"]}


def compose_env(service: Service, services: dict[str, Service]) -> dict[str, str]:
    hosts = ["localhost", "127.0.0.1", *[p.name for s in services.values() for p in s.processes]]
    env = {
        "DJANGO_SETTINGS_MODULE": service.module,
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "${DJANGO_SECRET_KEY:-compose-only-insecure-secret-key-change-me}",
        "DJANGO_ALLOWED_HOSTS": ",".join(dict.fromkeys(h for h in hosts if "-" not in h)),
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
        "STRANGLER_MTLS": "${STRANGLER_MTLS:-off}",
        "STRANGLER_TLS_DIR": TLS_DIR_COMPOSE,
    }
    if service.name == "proxy":
        env |= {var: web_address(services, up) for var, up in upstream_vars().items()}
        env["STRANGLER_ADMIN_TOKEN"] = "${STRANGLER_ADMIN_TOKEN:-compose-only-admin-token}"
        env["REDIS_URL"] = "redis://redis:6379/0"
        # the route inventory walks the monolith's URLconf, which the image carries
        env["STRANGLER_MONOLITH_SETTINGS"] = services["monolith"].module
        env["STRANGLER_DATA_DIR"] = PROXY_DATA_DIR_COMPOSE
        env["STRANGLER_NGINX_ACCESS_LOG"] = f"{PROXY_DATA_DIR_COMPOSE}/nginx/access.log"
        return env
    upper = service.name.upper()
    # The service's own database with its own role (servicekit/web/env.py: the per-service
    # variable is used as given; a shared DATABASE_URL would derive `<prefix>_<service>`).
    env[database_url_var(service.name)] = (
        f"postgres://{service.name}:${{{upper}_DB_PASSWORD:-{service.name}}}"
        f"@postgres:5432/{service.name}"
    )
    env["CELERY_BROKER_URL"] = "amqp://strangler:strangler@rabbitmq:5672//"
    env["OWNERSHIP_FILE"] = f"{OWNERSHIP_DIR_COMPOSE}/ownership.yaml"
    if service.name in ISSUERS:
        env["JWT_KEYS_DIR"] = JWT_KEYS_DIR_COMPOSE
    if service.name == "monolith":
        env["REDIS_URL"] = "redis://redis:6379/0"
        env["DJANGO_CSRF_TRUSTED_ORIGINS"] = "http://localhost:8000,http://127.0.0.1:8000"
    if service.extracted:
        env["JWKS_URL"] = web_address(services, "monolith") + JWKS_PATH
    return env


def edge(proxy: dict, services: dict[str, Service]) -> dict:
    """The nginx plane in front (issue 16): nginx in our image, on the proxy's published port,
    fed the configuration exported from the live route table and regenerated and reloaded on
    every change of it (deploy/container/edge.py); the Python proxy behind it serves
    `/_strangler/` (control centre, admin API, metrics) and compares the shadow reads nginx
    mirrors to it."""
    web = services["proxy"].web
    env = dict(proxy["environment"])
    env["STRANGLER_NGINX_CONF"] = f"{PROXY_DATA_DIR_COMPOSE}/nginx/nginx.conf"
    env["STRANGLER_NGINX_LISTEN"] = f"0.0.0.0:{web.port}"
    env["STRANGLER_NGINX_COMPARATOR"] = web_address(services, "proxy")
    return {
        **{k: v for k, v in proxy.items() if k not in ("ports", "depends_on")},
        "command": ["edge"],
        "environment": env,
        "ports": proxy["ports"],
        "depends_on": {
            CERTIFICATES: {"condition": "service_completed_successfully"},
            web.name: {"condition": "service_healthy"},
        },
    }


def compose(services: dict[str, Service]) -> dict:
    build = {"build": {"context": ".", "dockerfile": "Dockerfile"}, "image": "strangler:local"}
    healthy = {"condition": "service_healthy"}
    app: dict[str, dict] = {}
    app[CERTIFICATES] = {
        **build,
        "command": [CERTIFICATES],
        "restart": "no",
        "environment": {"STRANGLER_TLS_DIR": TLS_DIR_COMPOSE},
        "volumes": [f"tls:{TLS_DIR_COMPOSE}"],
    }
    certified = {CERTIFICATES: {"condition": "service_completed_successfully"}}
    for service in services.values():
        env = compose_env(service, services)
        mounts = [f"tls:{TLS_DIR_COMPOSE}:ro"]
        if service.has_database:
            mounts.append(f"ownership:{OWNERSHIP_DIR_COMPOSE}")
        if service.name in ISSUERS:
            mounts.append(f"jwt-keys:{JWT_KEYS_DIR_COMPOSE}")
        if service.name == "proxy":
            mounts.append(f"proxy-data:{PROXY_DATA_DIR_COMPOSE}")
        depends: dict[str, dict] = {"rabbitmq": healthy} if service.has_database else {}
        if "REDIS_URL" in env:
            depends["redis"] = healthy
        if service.has_database:
            app[f"{service.name}-migrate"] = {
                **build,
                "command": ["manage", "migrate", "--noinput"],
                "restart": "no",
                "environment": env,
                "volumes": mounts,
                "depends_on": {"postgres": healthy},
            }
            migrated = {f"{service.name}-migrate": {"condition": "service_completed_successfully"}}
            if service.name in SEED_COMMANDS:
                app[f"{service.name}-seed"] = {
                    **build,
                    "command": SEED_COMMANDS[service.name],
                    "restart": "no",
                    "environment": env,
                    "volumes": mounts,
                    "depends_on": migrated,
                }
            depends = {**migrated, **depends}
        if service.name == "proxy":
            depends |= {
                services[up].web.name: healthy for up in upstream_vars().values() if up != "proxy"
            }
        for process in service.processes:
            container = {**build, "restart": "unless-stopped", "command": [process.name]}
            container["environment"] = env
            if process.port:
                # Published on the loopback interface only: the laptop defaults above (secret
                # key, admin token) must not be reachable from the network.
                container["ports"] = [f"127.0.0.1:{process.port}:{process.port}"]
            if mounts:
                container["volumes"] = mounts
            container["depends_on"] = {**certified, **depends}
            app[process.name] = container
    proxy = app[services["proxy"].web.name]
    app["edge"] = edge(proxy, services)
    del proxy["ports"]  # reached through the edge (and by name inside the compose network)
    with_db = [s.name for s in services.values() if s.has_database]
    backing = yaml.safe_load((ROOT / "deploy" / "compose-backing.yml").read_text())
    postgres = backing["services"]["postgres"]["environment"]
    postgres["POSTGRES_SERVICE_DATABASES"] = " ".join(with_db)
    for name in with_db:
        postgres[f"{name.upper()}_DB_PASSWORD"] = f"${{{name.upper()}_DB_PASSWORD:-{name}}}"
    return {
        "name": "strangler",
        "services": {**app, **backing["services"]},
        "volumes": {
            **backing.get("volumes", {}),
            "ownership": {},
            "jwt-keys": {},
            "proxy-data": {},
            "tls": {},
        },
    }
