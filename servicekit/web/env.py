"""Typed reads of the process environment: the one place settings modules get config from."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url

# Connections each process may hold to its PostgreSQL database (`database_pool`).
DATABASE_POOL_SIZE = 2


class ImproperlyConfiguredEnv(RuntimeError):
    """A required environment variable is missing or malformed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfiguredEnv(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, *, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not an integer") from exc


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not a number") from exc
    if value != value or (minimum is not None and value < minimum):  # NaN, or below the minimum
        floor = f" >= {minimum}" if minimum is not None else ""
        raise ImproperlyConfiguredEnv(f"{name}={raw!r} must be a number{floor}")
    return value


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def data_dir(*, environ: Mapping[str, str] | None = None) -> Path:
    """The ignored folder holding every embedded default (SQLite files, broker, keys)."""
    environ = os.environ if environ is None else environ
    default = Path(__file__).resolve().parent.parent / "var"
    path = Path(environ.get("STRANGLER_DATA_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


# WAL and a busy timeout let the web process and the workers share one SQLite file.
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_url_var(service: str) -> str:
    """`CATALOG_DATABASE_URL` for the catalog: the variable naming one service's own database."""
    return f"{service.upper().replace('-', '_')}_DATABASE_URL"


def service_database_url(url: str, service: str) -> str:
    """The service's own database on the server a shared `DATABASE_URL` names.

    The URL's database name is a prefix: `postgres://h/strangler` gives `.../strangler_catalog`
    (no name: `.../catalog`); `sqlite:///var/x.sqlite3` gives `sqlite:///var/x_catalog.sqlite3`.
    Query strings (sslmode, options) are kept.
    """
    if url.startswith("sqlite:"):
        # Not through urlsplit/urlunsplit: they turn `sqlite:////abs` into `sqlite://abs`.
        head, _, query = url.partition("?")
        scheme, _, path = head.partition("://")
        if path in ("", "/", "/:memory:", ":memory:"):
            return url  # in memory: private to the process anyway
        folder, _, file = path.rpartition("/")
        stem, dot, ext = file.rpartition(".")
        own = f"{stem}_{service}.{ext}" if dot and stem else f"{file}_{service}.sqlite3"
        return f"{scheme}://{folder}/{own}" + (f"?{query}" if query else "")
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    return urlunsplit(parts._replace(path="/" + (f"{prefix}_{service}" if prefix else service)))


def database_url(*, service: str, environ: Mapping[str, str] | None = None) -> str:
    """The URL `database_config` uses for `service`, "" for the embedded SQLite default."""
    environ = os.environ if environ is None else environ
    own = environ.get(database_url_var(service))
    if own:
        return own
    shared = environ.get("DATABASE_URL")
    return service_database_url(shared, service) if shared else ""


def database_pool(*, environ: Mapping[str, str] | None = None) -> dict | None:
    """The psycopg pool each process keeps for its PostgreSQL database, None for none.

    At most `DATABASE_POOL_SIZE` connections (2) per process, whatever its threads: a fleet's
    connections are then bounded by its processes, not by its threads
    (docs/running-at-scale.md, "How many connections a fleet holds"). A thread that finds the
    pool busy waits up to `DATABASE_POOL_TIMEOUT` seconds (5), then its request is answered 503
    `database_unavailable`. Connections left unused for `DATABASE_POOL_MAX_IDLE` seconds (60)
    are closed. `DATABASE_POOL_SIZE=0` turns the pool off: one persistent connection per
    thread, as behind PgBouncer in transaction mode.
    """
    size = env_int("DATABASE_POOL_SIZE", DATABASE_POOL_SIZE, environ=environ)
    if size < 0:
        raise ImproperlyConfiguredEnv(f"DATABASE_POOL_SIZE must be 0 or more, not {size}")
    if size == 0:
        return None
    timeout = env_float("DATABASE_POOL_TIMEOUT", 5.0, environ=environ)
    max_idle = env_float("DATABASE_POOL_MAX_IDLE", 60.0, environ=environ)
    for name, seconds in (("DATABASE_POOL_TIMEOUT", timeout), ("DATABASE_POOL_MAX_IDLE", max_idle)):
        if seconds <= 0:
            raise ImproperlyConfiguredEnv(f"{name}={seconds} must be more than 0 seconds")
    return {"min_size": 0, "max_size": size, "timeout": timeout, "max_idle": max_idle}


def database_config(*, service: str, environ: Mapping[str, str] | None = None) -> dict:
    """The service's own database, never another service's.

    `<SERVICE>_DATABASE_URL` (e.g. `CATALOG_DATABASE_URL`) is used as given; else `DATABASE_URL`
    names a server and a database prefix, and the service uses `<prefix>_<service>` there
    (`service_database_url`); else a SQLite file of its own under the data folder.
    """
    environ = os.environ if environ is None else environ
    url = database_url(service=service, environ=environ)
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"].endswith("sqlite3") and config["NAME"] not in ("", ":memory:"):
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
            config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        elif config["ENGINE"].endswith("postgresql") and (pool := database_pool(environ=environ)):
            # Django's pool hands a connection back at the end of each request, so CONN_MAX_AGE
            # must be 0 (Django refuses a pool otherwise); the pool keeps it open instead.
            config["CONN_MAX_AGE"] = 0
            config["OPTIONS"] = {**config.get("OPTIONS", {}), "pool": pool}
    else:
        folder = data_dir(environ=environ) / service
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(folder / "db.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    suffix = environ.get("STRANGLER_TEST_DB_SUFFIX", "")
    if suffix:
        config.setdefault("TEST", {})["NAME"] = f"test_{service}_{suffix}"
    return config


def cache_config(*, service: str, environ: Mapping[str, str] | None = None) -> dict:
    """Redis (`REDIS_URL`) when set, else in-process memory.

    Services may share one Redis server, never its keys: every key starts with the service's
    name (after `CACHE_KEY_PREFIX`, which tells two fleets on one server apart).
    """
    environ = os.environ if environ is None else environ
    url = environ.get("REDIS_URL")
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    prefix = environ.get("CACHE_KEY_PREFIX", "")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": f"{prefix}:{service}" if prefix else service,
    }


def broker_url(*, environ: Mapping[str, str] | None = None) -> str:
    """`CELERY_BROKER_URL` when set, else kombu's filesystem transport under the data folder."""
    environ = os.environ if environ is None else environ
    url = environ.get("CELERY_BROKER_URL")
    if url:
        return url
    return "filesystem://"


def filesystem_broker_options(*, environ: Mapping[str, str] | None = None) -> dict:
    """Transport options for kombu's filesystem transport: one folder shared by every process."""
    root = data_dir(environ=environ) / "broker"
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "store_processed": False,
        "control_folder": str(folders["control"]),
    }


def secret_key(*, production: bool, environ: Mapping[str, str] | None = None) -> str:
    """`DJANGO_SECRET_KEY`; required in production, else made once and kept in the data folder."""
    environ = os.environ if environ is None else environ
    value = environ.get("DJANGO_SECRET_KEY")
    if value:
        return value
    if production:
        raise ImproperlyConfiguredEnv(
            "DJANGO_SECRET_KEY is required when DJANGO_ENV=production; refusing to start"
        )
    path = data_dir(environ=environ) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
