"""Start our own services as real processes for end-to-end tests: free ports, own databases.

`DjangoService` migrates its own database, optionally runs set-up commands (seed, backfill),
serves with gunicorn on a free port and stops in `__exit__`. On the real-server pass
(DATABASE_URL set) each service gets a fresh PostgreSQL database of its own through
`<SERVICE>_DATABASE_URL`, dropped at exit; `procfile_fleet` hands `scripts/run.py` a fresh
database prefix, broker and Redis key prefix instead, as a user sets them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from servicekit.web.env import database_url_var
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def admin_connection(base_url: str):
    """An autocommit connection to the `postgres` database of `base_url`'s server."""
    import psycopg

    admin = urlunsplit(urlsplit(base_url)._replace(path="/postgres", query=""))
    return psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True)


def postgres_database(base_url: str, name: str, *, drop: bool = False) -> str:
    """A fresh database `name` on the server of `base_url` (or, with drop, none): its URL."""
    with admin_connection(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


# Connections beside the fleet's own that a test's operator commands hold (a `manage.py` command
# of the live migration, `routes set`), one at a time.
OPERATOR_CONNECTIONS = 2


@functools.cache
def run_script():
    """scripts/run.py as a module (what `make run` runs)."""
    spec = importlib.util.spec_from_file_location("strangler_run_script", ROOT / "scripts/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def postgres_role(base_url: str, name: str, *, connection_limit: int) -> Iterator[str]:
    """`base_url` as a new login role `name` that may create databases and hold at most
    `connection_limit` connections at once (PostgreSQL refuses one more); dropped after, with
    what it owns (drop its databases first)."""
    with admin_connection(base_url) as conn:
        conn.execute(
            f'CREATE ROLE "{name}" LOGIN CREATEDB CONNECTION LIMIT {int(connection_limit)}'
        )
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    try:
        yield urlunsplit(parts._replace(netloc=f"{name}@{host}"))
    finally:
        with admin_connection(base_url) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def postgres_databases_drop(base_url: str, prefix: str) -> list[str]:
    """Drop every database whose name starts with `prefix_` (what a fleet's services made)."""
    with admin_connection(base_url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [f"{prefix}_"]
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return [name for (name,) in rows]


class DjangoService:
    def __init__(
        self,
        name: str,
        *,
        settings: str,
        manage: str,
        wsgi: str,
        data_dir: Path,
        env: dict[str, str] | None = None,
        setup: list[list[str]] | None = None,
    ):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.manage = [sys.executable, str(ROOT / manage)]
        self.wsgi = wsgi
        self.setup_commands = setup or []
        self.data_dir = data_dir
        self.database_name = ""
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "DJANGO_ENV": "test",
            "STRANGLER_DATA_DIR": str(data_dir),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        if os.environ.get("DATABASE_URL"):
            # The service's own variable, as a deployment names one service's database.
            self.database_name = f"e2e_{name}_{uuid.uuid4().hex[:8]}"
            self.env[database_url_var(name)] = postgres_database(
                os.environ["DATABASE_URL"], self.database_name
            )
        self.log_path = data_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A management command of this service, against its database; a failure names what
        the command printed (a bare CalledProcessError would hide it)."""
        done = subprocess.run(
            [*self.manage, *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.name}: manage.py {' '.join(args)} exited {done.returncode}\n"
                f"stdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-3000:]}"
            )
        return done

    def serve_command(self, port: int) -> list[str]:
        """gunicorn serving this service on `port` (1 worker, 4 threads)."""
        return [
            str(BIN / "gunicorn"),
            self.wsgi,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--worker-class",
            "servicekit.web.gunicorn_worker.ProblemThreadWorker",
        ]

    def __enter__(self) -> DjangoService:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run("migrate", "--noinput", "-v", "0")
        for command in self.setup_commands:
            self.run(*command)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.serve_command(self.port),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"{self.url}/healthz", process=self.process)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process)
        if getattr(self, "_log", None):
            self._log.close()
        if self.database_name:
            postgres_database(os.environ["DATABASE_URL"], self.database_name, drop=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def enter_together(
    stack: contextlib.ExitStack, managers: Iterable[AbstractContextManager[T]]
) -> list[T]:
    """Enter them side by side, as many at a time as there are CPUs (each runs child processes:
    migrations, seeding, a server coming up; more at once would only share the CPUs and stretch
    each one's start), and push each that entered on `stack`, so every one started is stopped
    again whatever happens. Returns what each entry gave, in order; the first failure is raised
    once every one is through."""
    managers = list(managers)
    workers = max(min(len(managers), os.cpu_count() or 1), 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        entries = [pool.submit(manager.__enter__) for manager in managers]
    entered: list[T] = []
    failure: BaseException | None = None
    for manager, entry in zip(managers, entries, strict=True):
        try:
            entered.append(entry.result())
        except BaseException as exc:
            failure = failure or exc
            continue
        stack.push(manager)
    if failure is not None:
        raise failure
    return entered


def monolith(data_dir: Path, **kwargs) -> DjangoService:
    return DjangoService(
        "monolith",
        settings="monolith.settings",
        manage="manage.py",
        wsgi="monolith.wsgi:application",
        data_dir=data_dir,
        **kwargs,
    )


def catalog(data_dir: Path, **kwargs) -> DjangoService:
    return DjangoService(
        "catalog",
        settings="extracted.catalog.settings",
        manage="extracted/catalog/manage.py",
        wsgi="extracted.catalog.wsgi:application",
        data_dir=data_dir,
        **kwargs,
    )


def real_servers_env(tag: str) -> dict[str, str]:
    """On the real-server pass, what a user of `make run` sets, private to one fleet: a database
    prefix `tag` on the PostgreSQL server (scripts/run.py creates `<tag>_<service>`), the broker,
    and Redis keys under `tag`. Empty on the embedded pass."""
    env: dict[str, str] = {}
    if server := os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = urlunsplit(urlsplit(server)._replace(path=f"/{tag}"))
    if broker := os.environ.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = broker
    if redis := os.environ.get("REDIS_URL"):
        env |= {"REDIS_URL": redis, "CACHE_KEY_PREFIX": tag}
    return env


@contextlib.contextmanager
def rabbitmq_vhost(broker_url: str, name: str) -> Iterator[str]:
    """The broker URL on a vhost of its own, deleted after, so two fleets on one RabbitMQ never
    take each other's messages (their queues have the same names). Needs this machine's
    `rabbitmqctl` (the broker on 127.0.0.1); otherwise the URL as given."""
    parts = urlsplit(broker_url)
    ctl = shutil.which("rabbitmqctl")
    if not (parts.scheme.startswith("amqp") and parts.hostname in ("127.0.0.1", "localhost")):
        ctl = None

    def run(*args: str) -> bool:
        done = subprocess.run([str(ctl), *args], capture_output=True, timeout=60)
        return done.returncode == 0

    user = parts.username or "guest"
    if not ctl or not (
        run("add_vhost", name) and run("set_permissions", "-p", name, user, ".*", ".*", ".*")
    ):
        yield broker_url
        return
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        run("delete_vhost", name)


@contextlib.contextmanager
def redis_database(redis_url: str, tag: str) -> Iterator[str]:
    """The Redis URL on a database number of its own (an empty one of 1-15, claimed, flushed
    after): the proxy's keys (breakers, rate limits, shadow differences) have no per-fleet
    prefix, so two fleets on one Redis would read each other's. Else the URL as given."""
    import redis

    parts = urlsplit(redis_url)
    claim = "strangler:test-fleet-claim"
    for number in range(1, 16):
        client = redis.Redis.from_url(urlunsplit(parts._replace(path=f"/{number}")))
        try:
            if client.dbsize() == 0 and client.set(claim, tag, nx=True, ex=6 * 3600):
                break
        except redis.RedisError:
            pass
        client.close()
    else:
        yield redis_url
        return
    try:
        yield urlunsplit(parts._replace(path=f"/{number}"))
    finally:
        if client.get(claim) == tag.encode():
            client.flushdb()
        client.close()


def fleet_pids(data: Path) -> dict[str, int]:
    """Procfile process name -> the process group (and session) its supervisor started it in."""
    return {path.stem: int(path.read_text()) for path in (data / "run").glob("*.pid")}


@contextlib.contextmanager
def procfile_fleet(
    data: Path,
    *,
    env: dict[str, str] | None = None,
    only: list[str] | None = None,
    connection_limit: bool = False,
) -> Iterator[dict[str, str]]:
    """What `make run` starts (scripts/run.py: create databases, migrate, seed, every Procfile
    process, or those `only` names), on free ports and a fresh data folder: on the embedded
    defaults, or on the real pass on PostgreSQL (fresh databases, dropped after), the broker and
    Redis. Yields the environment, with PROXY, MONOLITH, CATALOG... naming each web process's
    URL.

    `connection_limit` (real pass): the fleet connects as a role of its own that PostgreSQL
    lets hold no more connections than `make run` says the fleet holds at most
    (scripts/run.py: `fleet_connections`), plus OPERATOR_CONNECTIONS: a process that took more
    would be refused, and its requests would fail."""
    from servicekit.web.ports import PORTS

    ports = {name: free_port() for name in PORTS}
    tag = f"fleet_{os.environ.get('STRANGLER_TEST_DB_SUFFIX', 'local')}_{uuid.uuid4().hex[:6]}"
    real = real_servers_env(tag)
    with contextlib.ExitStack() as stack:
        if connection_limit and "DATABASE_URL" in real:
            run = run_script()
            processes = run.read_procfile(ROOT / "Procfile")
            if only:
                processes = {name: processes[name] for name in only}
            most = run.fleet_connections(processes, {**os.environ, **real, **(env or {})})
            real["DATABASE_URL"] = stack.enter_context(
                postgres_role(
                    real["DATABASE_URL"], tag, connection_limit=most + OPERATOR_CONNECTIONS
                )
            )
        if "CELERY_BROKER_URL" in real:
            real["CELERY_BROKER_URL"] = stack.enter_context(
                rabbitmq_vhost(real["CELERY_BROKER_URL"], tag)
            )
        if "REDIS_URL" in real:
            real["REDIS_URL"] = stack.enter_context(redis_database(real["REDIS_URL"], tag))
        yield from _procfile_fleet(data, ports, tag, real, env, only)


def _procfile_fleet(data, ports, tag, real, env, only) -> Iterator[dict[str, str]]:
    from servicekit.web.ports import GRPC_PORTS, path_of, port_env_var

    fleet_env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
            and not k.endswith("_DATABASE_URL")
        },
        **real,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "STRANGLER_DATA_DIR": str(data),
        "DJANGO_ENV": "local",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
        **{port_env_var(name): str(port) for name, port in ports.items()},
        **{port_env_var(name): str(free_port()) for name in GRPC_PORTS},
        **(env or {}),
    }
    # test databases are pytest's business; the fleet's are its own
    fleet_env.pop("STRANGLER_TEST_DB_SUFFIX", None)
    with open(data / "fleet.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/run.py", *(["--only", *only] if only else [])],
            cwd=ROOT,
            env=fleet_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for name, port in ports.items():
                web = (ROOT / "extracted" / name / "wsgi.py").exists() or name in (
                    "proxy",
                    "monolith",
                )
                if web and (not only or name in only):
                    wait_http(
                        f"http://127.0.0.1:{port}{path_of(name, 'health')}",
                        timeout=180,
                        process=process,
                    )
            yield {
                **fleet_env,
                **{name.upper(): f"http://127.0.0.1:{port}" for name, port in ports.items()},
            }
        finally:
            stop_process(process, timeout=30, group=True)
            if "DATABASE_URL" in real:
                postgres_databases_drop(real["DATABASE_URL"], tag)


def users(data_dir: Path, **kwargs) -> DjangoService:
    return DjangoService(
        "users",
        settings="extracted.users.settings",
        manage="extracted/users/manage.py",
        wsgi="extracted.users.wsgi:application",
        data_dir=data_dir,
        **kwargs,
    )


class CatalogGrpc:
    """The catalog's gRPC server (`manage.py grpc_serve`, as the Procfile's catalog-grpc runs
    it) beside a catalog `DjangoService` (running, or only migrated), on its database, on a free
    port; ready when the standard health check answers SERVING (over mTLS when `env` turns
    STRANGLER_MTLS on). Logs at INFO to `<data>/catalog-grpc.log`."""

    def __init__(
        self, service: DjangoService, *, env: dict[str, str] | None = None, timeout: float = 30
    ):
        self.service = service
        self.timeout = timeout
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.env = {**service.env, "LOG_LEVEL": "INFO", **(env or {})}
        self.log_path = service.data_dir / "catalog-grpc.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> CatalogGrpc:
        from servicekit.web.grpc_server import health_check
        from tests.support.wait import wait_for

        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.service.manage, "grpc_serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: (
                    self.process.poll() is None
                    and health_check(self.target, server_name="catalog", environ=self.env)
                ),
                timeout=self.timeout,
                what=f"catalog gRPC on {self.target}",
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
