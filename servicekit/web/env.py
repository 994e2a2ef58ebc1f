"""Typed reads of the process environment: the one place settings modules get config from."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import dj_database_url


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


def database_config(
    *, service: str, environ: Mapping[str, str] | None = None, var: str = "DATABASE_URL"
) -> dict:
    """`DATABASE_URL` when set, else a SQLite file of the service's own under the data folder."""
    environ = os.environ if environ is None else environ
    url = environ.get(var)
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    else:
        folder = data_dir(environ=environ) / service
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(folder / "db.sqlite3"),
            # WAL and a busy timeout let the web process and the workers share one file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    suffix = environ.get("STRANGLER_TEST_DB_SUFFIX", "")
    if suffix:
        config.setdefault("TEST", {})["NAME"] = f"test_{service}_{suffix}"
    return config


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
