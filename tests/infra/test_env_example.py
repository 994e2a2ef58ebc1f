"""`.env.example` names every environment variable the running code reads, and nothing else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The code that runs in a deployment (tests, benchmarks and the test runner are not configured
# through .env).
RUNTIME = [
    "monolith",
    "extracted",
    "servicekit",
    "strangler_proxy",
    "contracts",
    "functions",
    "scripts/run.py",
    "scripts/plan.py",
    "scripts/prometheus.py",
]
HELPERS = {"env_str", "env_bool", "env_int", "env_list", "env_float", "getenv"}
# Read by the code but not configuration a user sets: process plumbing, WSGI keys and
# hooks that only the test suites set.
NOT_CONFIGURATION = {
    "PATH": "the shell's own",
    "PATH_INFO": "a WSGI environ key, not the process environment",
    "DJANGO_SETTINGS_MODULE": "each entry point sets its own",
    "PROMETHEUS_MULTIPROC_DIR": "the server scripts make a fresh folder per start",
    "STRANGLER_TEST_DB_SUFFIX": "scripts/test.py: unique test database names",
    "SERVICEKIT_CRASH_AT": "tests/events: fault injection",
    "SERVICEKIT_CRASH_ONCE_FILE": "tests/events: fault injection",
}
# Read through a helper whose argument does not name the variable.
IMPLIED = {
    "database_config": "DATABASE_URL",
    "broker_url": "CELERY_BROKER_URL",
    "secret_key": "DJANGO_SECRET_KEY",
}
NAME = re.compile(r"[A-Z][A-Z0-9_]+")
# How each other language reads a variable: TypeScript `process.env.NAME`; Go `os.Getenv("NAME")`
# or its `env("NAME", fallback)` helper (polyglot/go/src/config.go); Java `System.getenv("NAME")`
# or its `env("NAME", fallback)` helper (polyglot/java/src/catalogreads/Config.java), as Kotlin.
OTHER_LANGUAGES = {
    "ts": re.compile(r"process\.env\.([A-Z][A-Z0-9_]+)"),
    "go": re.compile(r"(?:os\.Getenv|\benv)\(\"([A-Z][A-Z0-9_]+)\""),
    "java": re.compile(r"(?:System\.getenv|\benv)\(\"([A-Z][A-Z0-9_]+)\""),
    "kt": re.compile(r"(?:System\.getenv|\benv)\(\"([A-Z][A-Z0-9_]+)\""),
}


def _is_environ(node: ast.AST) -> bool:
    return "environ" in ast.unparse(node)


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """The module's `NAME = "text"` assignments: a variable read by its constant
    (`environ.get(STORE_CA)`) is the constant's text."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def reads_in(source: str) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(source)
    constants = _string_constants(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in IMPLIED:
                found.add(IMPLIED[name])
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Name) and first.id in constants:
                first = ast.Constant(constants[first.id])
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if name in HELPERS or (
                name in ("get", "pop", "setdefault")
                and isinstance(func, ast.Attribute)
                and _is_environ(func.value)
            ):
                found.add(first.value)
        elif (
            isinstance(node, ast.Subscript)
            and _is_environ(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            found.add(node.slice.value)
    return {name for name in found if NAME.fullmatch(name)}


def code_reads() -> dict[str, str]:
    where: dict[str, str] = {}
    for top in RUNTIME:
        base = ROOT / top
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in files:
            if "migrations" in path.parts:
                continue
            for name in reads_in(path.read_text(encoding="utf-8")):
                where.setdefault(name, str(path.relative_to(ROOT)))
    # The other languages' implementations of the catalog reads (polyglot/<language>/src).
    for suffix, reads in OTHER_LANGUAGES.items():
        for path in sorted((ROOT / "polyglot").glob(f"*/src/**/*.{suffix}")):
            for name in reads.findall(path.read_text(encoding="utf-8")):
                where.setdefault(name, str(path.relative_to(ROOT)))
    return where


def documented() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_every_variable_the_code_reads_is_in_env_example():
    reads = code_reads()
    missing = sorted(
        f"{name} ({where})"
        for name, where in reads.items()
        if name not in documented() and name not in NOT_CONFIGURATION
    )
    assert not missing, "add to .env.example: " + ", ".join(missing)


def test_env_example_names_nothing_the_code_does_not_read():
    reads = code_reads()
    # <NAME>_PORT and <SERVICE>_DATABASE_URL are built from names (servicekit/web/ports.py).
    stale = sorted(
        name
        for name in documented() - set(reads)
        if not name.endswith("_PORT") and not name.endswith("_DATABASE_URL")
    )
    assert not stale, "not read by any code: " + ", ".join(stale)


def test_the_scanner_finds_every_way_of_reading():
    source = (
        "import os\nx = os.environ.get('A_ONE')\ny = os.environ['A_TWO']\n"
        "z = env_int('A_THREE', 1)\nw = os.getenv('A_FOUR')\nv = environ.get('A_FIVE')\n"
        "u = database_config(service='s')\nSIX = 'A_SIX'\nt = environ.get(SIX, '')\n"
    )
    assert reads_in(source) == {
        "A_ONE",
        "A_TWO",
        "A_THREE",
        "A_FOUR",
        "A_FIVE",
        "A_SIX",
        "DATABASE_URL",
    }
