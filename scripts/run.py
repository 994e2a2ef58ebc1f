"""`make run`: migrate every service, seed the demo data and start the whole fleet (supervisor.py).

Each service has its own database (servicekit/web/env.py: `<SERVICE>_DATABASE_URL`, else
`<prefix>_<service>` on the server `DATABASE_URL` names, else a SQLite file); a missing
PostgreSQL database is created before migrating. `--real` (`make run-real`) runs on the local
PostgreSQL, RabbitMQ and Redis (scripts/backends.py) unless those variables are set already.

`--plane nginx` (or STRANGLER_PLANE=nginx) puts nginx in front: it listens on the proxy's port,
fed the configuration `python -m strangler_proxy export nginx` writes from the live table, and
the Python proxy moves to STRANGLER_PYTHON_PROXY_PORT (8009), serving the control centre, the
admin API and the shadow comparator; every route change made by the fleet regenerates the file
and reloads nginx (strangler_proxy/export/publish.py). The default plane is `python`.

`STRANGLER_MTLS=on` serves every service but the proxy over HTTPS requiring a client certificate
from the local CA (servicekit/web/tls/fleet.py, docs/mtls.md); off by default.

`--only NAME...` starts only those Procfile processes, and migrates only the services they
belong to (`--only monolith monolith-worker`: the monolith as it ran before any strangling;
benchmarks/cost.py measures it so).

Ports come from the port map (servicekit/web/ports.py); `<NAME>_PORT` in the environment moves a
process (the tutorial test runs a whole fleet on free ports this way). The proxy's route table
and the ownership file live in the data folder, so flipping routes never edits the repository.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import backends  # noqa: E402
from supervisor import Supervisor  # noqa: E402

from servicekit.web.databases import database_create_if_missing  # noqa: E402
from servicekit.web.env import data_dir, database_config, database_pool  # noqa: E402
from servicekit.web.ports import GRPC_PORTS, PORTS, port_env_var  # noqa: E402
from servicekit.web.procfile import database_connections, read_procfile, with_bind  # noqa: E402
from servicekit.web.tls import mtls_enabled  # noqa: E402
from servicekit.web.tls.fleet import fleet_mtls  # noqa: E402
from servicekit.web.tls.stores import database_tls  # noqa: E402
from strangler_proxy.routes.file import live_routes_file  # noqa: E402

# Every Django service migrates its own database: (name, management script).
MANAGE = {
    "monolith": "manage.py",
    **{
        path.parent.name: str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("extracted/*/manage.py"))
    },
}


def services_of(processes: list[str]) -> list[str]:
    """The services (with a database) the Procfile processes named belong to: `catalog-relay`
    is the catalog's, `monolith-worker` the monolith's; the proxy has none."""
    return [
        name for name in MANAGE if any(p == name or p.startswith(f"{name}-") for p in processes)
    ]


def fleet_connections(processes: dict[str, str], env: dict[str, str]) -> int | None:
    """The most PostgreSQL connections these Procfile processes hold together (each service's
    pool bounds its processes: servicekit.web.env.database_pool); None when none is on
    PostgreSQL. docs/running-at-scale.md explains the sum; the e2e fleet runs under a role
    limited to it."""
    pool = database_pool(environ=env)
    size = pool["max_size"] if pool else 0
    configs = {s: database_config(service=s, environ=env) for s in services_of(list(processes))}
    postgres = {s for s, config in configs.items() if config["ENGINE"].endswith("postgresql")}
    if not postgres:
        return None
    return sum(
        database_connections(command, size)
        for name, command in processes.items()
        if postgres.intersection(services_of([name]))
    )


def real_servers(env: dict[str, str]) -> None:
    """`--real`: the local servers where the operator set nothing; their own data folder, so
    the ownership file and routes never describe databases they do not belong to."""
    env.setdefault("DATABASE_URL", backends.POSTGRES_URL)
    env.setdefault("CELERY_BROKER_URL", backends.RABBITMQ_URL)
    env.setdefault("REDIS_URL", backends.REDIS_URL)
    env.setdefault("STRANGLER_DATA_DIR", str(ROOT / "var" / "real"))
    up = backends.available(patience=5.0)
    missing = [name for name, ok in up.items() if not ok]
    if missing:
        raise SystemExit(
            f"make run-real: {', '.join(missing)} unreachable on 127.0.0.1 (expected PostgreSQL "
            ":5432, RabbitMQ :5672, Redis :6379); start them or set DATABASE_URL, "
            "CELERY_BROKER_URL and REDIS_URL"
        )


def databases_create(env: dict[str, str], services: list[str]) -> None:
    """Each service's own database, created when missing (PostgreSQL; SQLite makes files)."""
    for name in services:
        config = database_tls(database_config(service=name, environ=env), service=name, environ=env)
        if database_create_if_missing(config):
            print(f"-> {name}: created database {config['NAME']}", flush=True)


def migrate_and_seed(services: list[str], env: dict[str, str]) -> None:
    """Every service's migrations, and the monolith's demo data after its own: the services side
    by side (each its own database), as many at a time as there are CPUs."""

    def run(*command: str) -> None:
        subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True)

    def prepare(name: str) -> None:
        print(f"-> {name}: migrate", flush=True)
        run(MANAGE[name], "migrate", "--noinput", "-v", "0")
        if name == "monolith":
            print("-> monolith: seed demo data", flush=True)
            run("manage.py", "seed_demo")

    with ThreadPoolExecutor(max_workers=max(min(len(services), os.cpu_count() or 1), 1)) as pool:
        for done in [pool.submit(prepare, name) for name in services]:
            done.result()  # a failed step's CalledProcessError, as before (after the others)


def fleet_env(*, real: bool = False) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if real:
        real_servers(env)
    # Each process names its own settings; one leaking from the operator's shell would not fit.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    local = env.get("DJANGO_ENV", "local") in ("local", "dev", "development")
    if local and sys.stdout.isatty() and not (env.get("LOG_FORMAT") or env.get("LOG_JSON")):
        # A person watches this terminal, but the processes write to the supervisor's pipe:
        # tell them (servicekit.web.logging.log_format). Elsewhere each one picks JSON itself.
        env["LOG_FORMAT"] = "console"
        env.setdefault("LOG_COLORS", "true")
    folder = data_dir(environ=env)
    for name, default in PORTS.items():
        port = env.setdefault(port_env_var(name), str(default))
        env.setdefault(f"STRANGLER_{name.upper()}_URL", f"http://127.0.0.1:{port}")
    for name, default in GRPC_PORTS.items():
        env.setdefault(port_env_var(name), str(default))
    env.setdefault("ORDERS_CATALOG_GRPC_TARGET", f"127.0.0.1:{env['CATALOG_GRPC_PORT']}")
    env.setdefault("JWKS_URL", env["STRANGLER_MONOLITH_URL"] + "/.well-known/jwks.json")
    env.setdefault("STRANGLER_ROUTES_FILE", str(live_routes_file(env)))
    env.setdefault("OWNERSHIP_FILE", str(folder / "ownership.yaml"))
    # the route inventory walks this monolith's URLconf (the proxy never guesses a project)
    env.setdefault("STRANGLER_MONOLITH_SETTINGS", "monolith.settings")
    env.setdefault("STRANGLER_MONOLITH_DIR", str(ROOT))
    # Periodic reconciliation (Celery beat in the catalog's and the monolith's workers) reads the
    # peer's staff export; locally it uses the demo staff account (production sets its own
    # credentials, or leaves it off).
    env.setdefault("RECONCILE_USERNAME", "staff")
    env.setdefault("RECONCILE_PASSWORD", "staff-demo-pass")
    # Locally testers force a canary side (X-Strangler-Canary), still only with a staff or the
    # admin token; the proxy's own default, and every deployment's, is off.
    env.setdefault("STRANGLER_TRUST_CANARY_HEADER", "true")
    return env


PLANES = ("python", "nginx")


def nginx_binary() -> str:
    """nginx from Debian's package, installed when missing and this is root with apt-get."""
    found = shutil.which("nginx")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("-> nginx: apt-get install nginx-light", flush=True)
        apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=apt, check=False)
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light"]
        subprocess.run(install, env=apt, check=False)
        found = shutil.which("nginx")
    if found is None:
        raise SystemExit("--plane nginx: nginx is not installed (apt-get install nginx-light)")
    return found


def nginx_plane(env: dict[str, str], processes: dict[str, str]) -> dict[str, str]:
    """`--plane nginx`: the processes with nginx on the proxy's port and the Python proxy moved
    behind it; `env` gets the STRANGLER_NGINX_* settings every writer of the table needs."""
    if "proxy" not in processes:
        raise SystemExit("--plane nginx: the proxy process is not started (--only)")
    binary = nginx_binary()
    folder = data_dir(environ=env) / "nginx"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    prefix = [binary, "-p", str(folder), "-c", str(conf)]
    python_port = env.setdefault("STRANGLER_PYTHON_PROXY_PORT", "8009")
    env["STRANGLER_PROXY_URL"] = f"http://127.0.0.1:{python_port}"  # metrics, admin API
    env.update(
        STRANGLER_NGINX_CONF=str(conf),
        STRANGLER_NGINX_RELOAD=shlex.join([*prefix, "-s", "reload"]),
        STRANGLER_NGINX_LISTEN=f"127.0.0.1:{env[port_env_var('proxy')]}",
        STRANGLER_NGINX_COMPARATOR=env["STRANGLER_PROXY_URL"],
        STRANGLER_NGINX_ACCESS_LOG=str(folder / "access.log"),
    )
    export = [sys.executable, "-m", "strangler_proxy", "export", "nginx", "--out", str(conf)]
    subprocess.run(export, cwd=ROOT, env=env, check=True)
    # as root, workers keep root: the data folder is the operator's, not `nobody`'s
    daemon = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    return {
        **processes,
        "proxy": with_bind(processes["proxy"], "127.0.0.1", python_port),
        "nginx": shlex.join([*prefix, "-g", daemon]),
    }


def fleet_run_dir(env: dict[str, str]) -> Path:
    """Where the supervisor writes each process's group id (`<name>.pid`)."""
    return data_dir(environ=env) / "run"


def database_label(service: str, env: dict[str, str]) -> str:
    config = database_config(service=service, environ=env)
    if config["ENGINE"].endswith("sqlite3"):
        return f"{service}: SQLite"
    return f"{service}: {config['NAME']}@{config.get('HOST') or 'local'}"


def banner(env: dict[str, str], processes: dict[str, str]) -> str:
    url = {name: env[f"STRANGLER_{name.upper()}_URL"] for name in PORTS}
    public = f"http://127.0.0.1:{env[port_env_var('proxy')]}"
    plane = "nginx (the exported table)" if env.get("STRANGLER_NGINX_CONF") else "the proxy"
    nginx = ""
    if env.get("STRANGLER_NGINX_CONF"):
        names = ("STRANGLER_NGINX_CONF", "STRANGLER_NGINX_RELOAD", "STRANGLER_NGINX_LISTEN")
        exports = " ".join(f"{name}={shlex.quote(env[name])}" for name in names)
        nginx = f"""
    nginx plane       {env["STRANGLER_NGINX_CONF"]}   (log: {env["STRANGLER_NGINX_ACCESS_LOG"]})
    a shell's `routes set` reloads nginx with: export {exports}"""
    connections = ""
    if (most := fleet_connections(processes, env)) is not None:
        connections = f"""
    connections       at most {most} to PostgreSQL (DATABASE_POOL_SIZE per process)"""
    return f"""
  strangler is starting (Ctrl-C stops every process; one that dies is restarted with backoff):
    the entry point   {public}/            storefront and API, through {plane}
    control centre    {url["proxy"]}/_strangler/ui/{nginx}
    proxy admin API   {url["proxy"]}/_strangler/routes   (a staff JWT or $STRANGLER_ADMIN_TOKEN)
    proxy metrics     {url["proxy"]}/_strangler/metrics
    monolith          {url["monolith"]}/   docs {url["monolith"]}/api/docs/
    catalog service   {url["catalog"]}/api/docs/
    JWKS              {url["monolith"]}/.well-known/jwks.json
    route table       {env["STRANGLER_ROUTES_FILE"]}   (python -m strangler_proxy routes list)
    ownership         {env["OWNERSHIP_FILE"]}
    process ids       {fleet_run_dir(env)}/<name>.pid   (each a process group: kill -9 -PID)
    databases         {", ".join(database_label(name, env) for name in MANAGE)}{connections}
  demo logins: alice / alice-demo-pass (customer), staff / staff-demo-pass (staff)
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", action="store_true", help="run on PostgreSQL + RabbitMQ + Redis (make run-real)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="start only these Procfile processes (migrating only their services)",
    )
    parser.add_argument(
        "--plane",
        choices=PLANES,
        default=os.environ.get("STRANGLER_PLANE") or "python",
        help="what serves the proxy's port: the Python proxy, or nginx fed the exported table "
        "(default: $STRANGLER_PLANE, else python)",
    )
    args = parser.parse_args(argv)
    if args.plane not in PLANES:
        parser.error(f"STRANGLER_PLANE={args.plane!r}: one of {', '.join(PLANES)}")
    processes = read_procfile(ROOT / "Procfile")
    if args.only:
        unknown = sorted(set(args.only) - set(processes))
        if unknown:
            parser.error(f"--only: not in the Procfile: {', '.join(unknown)}")
        processes = {name: processes[name] for name in args.only}
    services = services_of(list(processes))
    env = fleet_env(real=args.real)
    quiet = {**env, "LOG_LEVEL": "WARNING"}  # set-up steps print their summary, not every event
    databases_create(env, services)
    migrate_and_seed(services, quiet)
    if mtls_enabled(environ=env):  # off by default: nothing below changes then (docs/mtls.md)
        processes = fleet_mtls(env, processes)
    if args.plane == "nginx":  # exported after fleet_mtls: with it on, to https upstreams
        processes = nginx_plane(env, processes)
    print(banner(env, processes), flush=True)
    supervisor = Supervisor(processes, cwd=ROOT, env=env, run_dir=fleet_run_dir(env))
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
