"""What the code says the fleet is: Procfile processes, the port map, settings modules and the
environment variables they read. The infra checks compare every deployment file with this."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from servicekit.web.env import database_url_var
from servicekit.web.ports import PORTS, port_env_var
from servicekit.web.procfile import bind_of, read_procfile, settings_module_of

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_list"}
# Read by libraries or by the container itself rather than by our settings modules.
LIBRARY_ENV = {
    "DJANGO_SETTINGS_MODULE",
    "PROMETHEUS_MULTIPROC_DIR",
    "BIND_HOST",
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "PYTHONPATH",
}
LIBRARY_ENV_PREFIXES = ("OTEL_",)
OUR_PACKAGES = ("servicekit", "contracts", "monolith", "strangler_proxy", "extracted")
ROUTES_TABLE = ROOT / "strangler_proxy" / "routes.yaml"
_ROUTES_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::?-[^}]*)?\}")


@dataclass
class EnvReads:
    """Names a module reads: `required` ones have no default in the code."""

    required: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)

    @property
    def all(self) -> set[str]:
        return self.required | self.optional


def procfile() -> dict[str, str]:
    return read_procfile(ROOT / "Procfile")


def known_processes() -> set[str]:
    """What a container may run: Procfile processes, and HTTP processes the port map declares
    before their Procfile line lands (the Procfile checks take over once it does)."""
    return set(procfile()) | set(PORTS)


def web_processes() -> dict[str, int]:
    """Procfile processes that listen on HTTP, with their port from the port map (0: absent)."""
    listening = {
        name: PORTS.get(name, 0) for name, command in procfile().items() if bind_of(command)
    }
    return {**PORTS, **listening}


def settings_modules() -> dict[str, Path]:
    """Every service's settings module (`monolith.settings`, `extracted.orders.settings`, ...)."""
    found: dict[str, Path] = {}
    candidates = [
        ROOT / "monolith",
        ROOT / "strangler_proxy",
        *sorted((ROOT / "extracted").glob("*")),
    ]
    for package in candidates:
        for path in (package / "settings.py", package / "settings" / "__init__.py"):
            if path.exists():
                module = ".".join(package.relative_to(ROOT).parts) + ".settings"
                found[module] = path
    return found


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _our_imports(path: Path) -> set[Path]:
    """Our modules `path` imports (`from servicekit.web.service_settings import service_settings`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] in OUR_PACKAGES and (file := _module_file(name)):
                found.add(file)
    return found


def settings_files(module: str) -> list[Path]:
    """The settings module (for a settings package, its sibling modules too) and every module
    of ours it imports, transitively: `service_settings(...)` reads the environment for an
    extracted service's three-line settings module."""
    path = settings_modules()[module]
    todo = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    seen: set[Path] = set()
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += sorted(_our_imports(current) - seen)
    return sorted(seen)


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def env_reads_of_source(source: str) -> EnvReads:
    """Environment reads in Python source: servicekit.web.env helpers and os.environ/getenv."""
    reads = EnvReads()
    guarded: set[str] = set()  # also read with a default: a bare read is behind a check
    for node in ast.walk(ast.parse(source)):
        name = _const(node.slice) if isinstance(node, ast.Subscript) else None
        if name and _is_environ(node.value):
            reads.required.add(name)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        first = _const(node.args[0]) if node.args else None
        if fname in ENV_HELPERS and first:
            has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
            (reads.optional if has_default else reads.required).add(first)
            if has_default:
                guarded.add(first)
        elif (first and fname == "get" and _is_environ(func.value)) or (
            first and fname == "getenv"
        ):
            reads.optional.add(first)
        elif fname == "database_config":
            # Stands for "a database of its own": `settings_reads` names the variable
            # (`<SERVICE>_DATABASE_URL`, servicekit/web/env.py).
            reads.required.add("DATABASE_URL")
        elif fname == "broker_url":
            reads.required.add("CELERY_BROKER_URL")
        elif fname == "secret_key":
            reads.required.add("DJANGO_SECRET_KEY")
    reads.required -= guarded
    reads.optional |= guarded
    return reads


def env_reads_of(paths: list[Path]) -> EnvReads:
    reads = EnvReads()
    for path in paths:
        one = env_reads_of_source(path.read_text(encoding="utf-8"))
        reads.required |= one.required
        reads.optional |= one.optional
    reads.optional -= reads.required
    return reads


def service_of(module: str) -> str:
    """`catalog` for `extracted.catalog.settings`, `monolith` for `monolith.settings`."""
    return module.rsplit(".", 1)[0].split(".")[-1]


def settings_reads(module: str) -> EnvReads:
    """What a settings module reads, the database rule applied: it requires its own
    `<SERVICE>_DATABASE_URL` (what a deployment sets per service), and may read the shared
    `DATABASE_URL` (a server and a prefix: the local shape, never a deployment's)."""
    reads = env_reads_of(settings_files(module))
    if "DATABASE_URL" in reads.required:
        reads.required = (reads.required - {"DATABASE_URL"}) | {database_var(module)}
        reads.optional = reads.optional | {"DATABASE_URL"}
    return reads


def database_var(module: str) -> str:
    return database_url_var(service_of(module))


def routes_table_vars() -> set[str]:
    """`${STRANGLER_CATALOG_URL:-...}` in the proxy's route table: the proxy reads these."""
    return set(_ROUTES_VAR.findall(ROUTES_TABLE.read_text(encoding="utf-8")))


@cache
def known_env() -> frozenset[str]:
    """Every variable some code of ours reads (not tests, not migrations), and the route
    table's placeholders: what a deployment file may set."""
    paths = [
        p
        for package in OUR_PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if not {"tests", "migrations"} & set(p.relative_to(ROOT).parts)
    ]
    names = env_reads_of(paths).all | LIBRARY_ENV | {port_env_var(name) for name in PORTS}
    databases = {database_var(module) for module in database_modules()}
    return frozenset(names | databases | routes_table_vars())


def is_known_env(name: str) -> bool:
    return name in known_env() or name.startswith(LIBRARY_ENV_PREFIXES)


_WSGI = re.compile(r"([A-Za-z_][\w.]*)\.(?:wsgi|asgi)(?::\w+)?")
_CELERY_APP = re.compile(r"celery\s+(?:-A|--app)[\s=]+([A-Za-z_][\w.]*)")
_CONSUMER = re.compile(r"\binbox_consume\s+(\S+)")


def settings_module_of_command(command: str) -> str | None:
    """`gunicorn monolith.wsgi:application` -> `monolith.settings`, `python
    extracted/catalog/manage.py ...` -> `extracted.catalog.settings`; None when it can't tell."""
    return settings_module_of(command, ROOT)


def queues_of(command: str) -> list[str] | None:
    """The queues a Celery worker or an inbox consumer takes from; None for other processes."""
    if re.match(r"celery\b.*\bworker\b", command):
        match = re.search(r"(?:--queues|-Q)[\s=]+(\S+)", command)
        return match.group(1).split(",") if match else ["celery"]
    if match := _CONSUMER.search(command):
        return [match.group(1)]
    return None


def is_relay(command: str) -> bool:
    return bool(re.search(r"\boutbox_relay\b", command))


def database_modules() -> list[str]:
    """Settings modules of services with a database of their own."""
    return [
        m for m in settings_modules() if "DATABASE_URL" in env_reads_of(settings_files(m)).required
    ]


def command_problems(name: str, command: str) -> list[str]:
    """Why a Procfile command would not start in the image: missing program or module."""
    problems = []
    words = [w for w in shlex.split(command) if "=" not in w.split("/")[0] or w.startswith("-")]
    program = words[0]
    if not (VENV_BIN / program).exists() and program not in ("python", "python3", "sh"):
        problems.append(f"{name}: program {program!r} is not installed in the venv")
    for pattern in (_WSGI, _CELERY_APP):
        if match := pattern.search(command):
            module = match.group(0).split(":")[0] if pattern is _WSGI else match.group(1)
            if importlib.util.find_spec(module) is None:
                problems.append(f"{name}: module {module!r} does not exist")
    if (match := re.search(r"(?:python3?\s+)([\w/]+\.py)", command)) and not (
        ROOT / match.group(1)
    ).exists():
        problems.append(f"{name}: script {match.group(1)!r} does not exist")
    if (match := re.search(r"python3?\s+-m\s+([\w.]+)", command)) and importlib.util.find_spec(
        match.group(1)
    ) is None:
        problems.append(f"{name}: module {match.group(1)!r} does not exist")
    return problems
