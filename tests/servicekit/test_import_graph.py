"""The import graphs of servicekit and of the proxy have no circles: between files, nor between
their packages."""

from __future__ import annotations

import ast
from pathlib import Path

import servicekit
import strangler_proxy

ROOT = Path(servicekit.__file__).parent
PROXY_ROOT = Path(strangler_proxy.__file__).parent


def _modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (at the top or inside a function)."""
    modules = _modules(root)
    prefix = root.name + "."
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                owner = _owner(target, modules) if target.startswith(prefix) else None
                if owner and owner != name:
                    graph[name].add(owner)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between packages `depth` names deep (servicekit.events.relay at 3)."""

    def package(name: str) -> str:
        return ".".join(name.split(".")[:depth])

    packages: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            a, b = package(source), package(target)
            nested = a.startswith(b + ".") or b.startswith(a + ".")
            if a != b and not nested:
                packages.setdefault(a, set()).add(b)
    return packages


def test_cycles_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_servicekit_files():
    assert cycles(import_graph()) == []


def test_no_import_circle_between_servicekit_packages():
    graph = import_graph()
    assert cycles(package_graph(graph, 2)) == []  # web, events, migration
    assert cycles(package_graph(graph, 3)) == []  # outbox, relay, inbox, broker, jwt, ...


def test_servicekit_imports_no_service():
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in ("monolith", "extracted", "strangler_proxy")


def test_no_import_circle_between_proxy_files_or_packages():
    graph = import_graph(PROXY_ROOT)
    assert cycles(graph) == []
    # edge, routes, upstream, shadow, lifecycle, control (runtime.py composes them)
    assert cycles(package_graph({k: v for k, v in graph.items() if k.count(".") > 1}, 2)) == []
