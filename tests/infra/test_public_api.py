"""The demo shop uses the packages as an outside project would: through their public API only.

Public (servicekit/__init__.py, strangler_proxy/__init__.py): the modules in `PUBLIC_MODULES`
and, in each, the names its `__all__` lists (else every name without a leading underscore).
Checked statically (ast) over every import and every dotted path in a string (INSTALLED_APPS,
MIDDLEWARE, ...) of the shop's code. And dependencies point one way: the packages import no shop
code. benchmarks/ and tests/ measure and test internals on purpose and are not checked.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import servicekit
import strangler_proxy

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "servicekit": servicekit.PUBLIC_MODULES,
    "strangler_proxy": strangler_proxy.PUBLIC_MODULES,
}
SHOP = ["monolith", "extracted", "functions", "scripts", "contracts", "deploy", "loadtest"]
SHOP_FILES = ["manage.py"]
# What the packages may never import: the demo shop and the repository's own tooling.
NOT_FOR_PACKAGES = {"contracts", "monolith", "extracted", "functions", "scripts", "deploy", "tests"}
DOTTED = re.compile(r"^[a-z_][a-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _python_files(folders: list[str], files: list[str] = ()) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))
    for name in files:
        yield ROOT / name


def _module_file(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _declared_all(module: str) -> set[str] | None:
    """The module's `__all__` as written (a list or tuple of strings), or None if it has none."""
    path = _module_file(module)
    for node in ast.parse(path.read_text()).body if path else []:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return set(ast.literal_eval(node.value))
    return None


def _uses(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name or None) for every import from the packages, and every dotted string
    naming something in them ("servicekit.web.request_id.RequestIdMiddleware")."""
    nodes = ast.walk(ast.parse(path.read_text(), filename=str(path)))
    for node in sorted(nodes, key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and DOTTED.match(node.value)
            and node.value.split(".")[0] in PACKAGES
        ):
            parts = node.value.split(".")
            # the longest prefix that is a module; the rest is a name in it
            for cut in range(len(parts), 0, -1):
                if _module_file(".".join(parts[:cut])):
                    yield (
                        node.lineno,
                        ".".join(parts[:cut]),
                        parts[cut] if cut < len(parts) else None,
                    )
                    break


def private_uses(paths: Iterator[Path]) -> list[str]:
    """Every use of a private module or name, as `file:line: what`."""
    problems = []
    for path in paths:
        for line, module, name in _uses(path):
            package = module.split(".")[0]
            if package not in PACKAGES:
                continue
            if name is not None and _module_file(f"{module}.{name}"):
                module, name = f"{module}.{name}", None  # `from pkg import submodule`
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}"
            if module not in PACKAGES[package]:
                problems.append(f"{where}: module {module} is not public")
            elif name is not None and name != "*":
                declared = _declared_all(module)
                if name.startswith("_") or (declared is not None and name not in declared):
                    problems.append(f"{where}: {module}.{name} is not public")
    return problems


def test_the_shop_uses_only_the_public_api():
    problems = private_uses(_python_files(SHOP, SHOP_FILES))
    assert problems == [], "private API used:\n" + "\n".join(problems)


def test_the_check_names_file_and_line_of_a_private_use(tmp_path):
    # the control: a shop module reaching into an internal module, a private name, and a name
    # left out of a public module's __all__
    shop = tmp_path / "probe.py"
    shop.write_text(
        "from servicekit.events.outbox.models import OutboxMessage\n"
        "from servicekit.web.env import _truthy\n"
        "from servicekit.events.outbox import services\n"
        "from servicekit.events.outbox import outbox_enqueue\n"
        "APP = 'servicekit.events.relay.claims.claim_batch'\n"
        "from servicekit.events.outbox import TYPE_CHECKING\n"
    )
    assert private_uses(iter([shop])) == [
        "probe.py:1: module servicekit.events.outbox.models is not public",
        "probe.py:2: servicekit.web.env._truthy is not public",
        "probe.py:3: module servicekit.events.outbox.services is not public",
        "probe.py:5: module servicekit.events.relay.claims is not public",
        "probe.py:6: servicekit.events.outbox.TYPE_CHECKING is not public",
    ]


def test_every_public_module_exists_and_none_is_private():
    for package, modules in PACKAGES.items():
        for module in modules:
            assert module.split(".")[0] == package
            assert _module_file(module), f"{module} is declared public but does not exist"
            assert not any(part.startswith("_") for part in module.split(".")), module


def test_the_packages_import_no_shop_code():
    problems = []
    for path in _python_files(list(PACKAGES)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in NOT_FOR_PACKAGES:
                    problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {module}")
    assert problems == []


# Each distribution declares what its package imports, and only that -------------------------
DISTRIBUTIONS = {"servicekit": "django-strangler", "strangler_proxy": "strangler-proxy"}
# Named only in a setting value with no dot (INSTALLED_APPS): not seen as an import.
SETTINGS_ONLY = {"django-strangler": {"drf-spectacular-sidecar"}}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _owners() -> dict[str, str]:
    """Installed file ("opentelemetry/sdk/trace/__init__.py") -> its distribution's name."""
    owners = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            if file.suffix == ".py":
                owners[str(file)] = _canonical(dist.metadata["Name"])
    return owners


def _distribution_of(module: str, owners: dict[str, str]) -> str | None:
    if module.split(".")[0] in DISTRIBUTIONS:
        return DISTRIBUTIONS[module.split(".")[0]]
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        base = "/".join(parts[:cut])
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in owners:
                return owners[candidate]
    return None


def used_distributions(package: str) -> set[str]:
    owners = _owners()
    used = set()
    for path in _python_files([package]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from opentelemetry import trace`: the submodule names the distribution
                modules = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                modules = [node.value] if DOTTED.match(node.value) else []
            else:
                continue
            for module in modules:
                if module.split(".")[0] not in sys.stdlib_module_names:
                    used.add(_distribution_of(module, owners))
    return used - {None, DISTRIBUTIONS[package]}


def declared_distributions(package: str) -> set[str]:
    project = tomllib.loads(
        (ROOT / "packages" / DISTRIBUTIONS[package] / "pyproject.toml").read_text()
    )["project"]
    requirements = project["dependencies"] + [
        r for extra in project.get("optional-dependencies", {}).values() for r in extra
    ]
    return {_canonical(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requirements}


@pytest.mark.parametrize("package", list(DISTRIBUTIONS))
def test_each_distribution_declares_what_its_package_imports(package):
    used = used_distributions(package)
    declared = declared_distributions(package) - SETTINGS_ONLY.get(DISTRIBUTIONS[package], set())
    assert sorted(used - declared) == [], "imported but not declared"
    assert sorted(declared - used) == [], "declared but not imported"
