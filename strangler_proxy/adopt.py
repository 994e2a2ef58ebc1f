"""`python -m strangler_proxy adopt`: start strangling an existing Django project in one command.

Run from the project's folder (where `manage.py` is) with the project's settings module and the
address of its running server. It walks the project's URLconf (`servicekit.web.url_inventory`,
in a subprocess under the project's settings: nothing is copied into the project) and writes
into `--out`:

- `routes.yaml`: one route per URL pattern (its methods when the view tells them; the view and
  URL name in a comment above it), every route in mode `monolith`, valid against the schema;
- `proxy.env`: what the proxy reads (routes file, data folder, monolith address, admin token)
  and what `inventory` needs to walk the project again (its settings and folder);

then prints the next steps. An existing `routes.yaml` is never replaced without `--force` (it
is the table an operator edits and flips). Typed `path()` patterns become exact `pattern`
routes, in URLconf order; a regex pattern (or a converter the proxy does not know) becomes a
prefix route on its literal beginning, placed after every exact one, longest first.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from servicekit.web.files import atomic_write
from strangler_proxy.control.route_inventory import InventoryError, read_endpoints
from strangler_proxy.routes.load import parse_table, pattern_regex
from strangler_proxy.routes.model import MONOLITH, RouteTableError
from strangler_proxy.routes.schema import METHODS

ROUTES = "routes.yaml"
ENV_FILE = "proxy.env"
# a character that makes a pattern a regex rather than literal text and `<conv:name>` parts
_REGEX_MARK = re.compile(r"[\\()\[\]^$*+?{}|]|\.\*")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class AdoptError(RuntimeError):
    """The project could not be adopted; `str()` says what to fix."""


def monolith_url(text: str) -> str:
    """`http(s)://host[:port]` without a path: where the proxy sends what it does not route."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdoptError(f"--monolith {text!r} is not an http(s)://host:port address")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise AdoptError(f"--monolith {text!r}: {exc}") from exc
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise AdoptError(f"--monolith {text!r}: give the server's address only, without a path")
    return f"{parts.scheme}://{parts.netloc}"


def _literal_prefix(pattern: str) -> str:
    """The path every match of a regex pattern starts with, cut back to its last `/`."""
    mark = _REGEX_MARK.search(pattern)
    head = pattern[: mark.start()] if mark else pattern
    param = head.find("<")
    if param >= 0:
        head = head[:param]
    return head[: head.rfind("/") + 1] or "/"


def _route_name(endpoint: dict[str, Any], taken: set[str]) -> str:
    base = endpoint.get("name") or endpoint["pattern"].strip("/") or "root"
    base = _NAME_CHARS.sub("-", base.replace(":", ".")).strip("-.") or "root"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _methods(endpoint: dict[str, Any]) -> list[str] | None:
    methods = [m for m in endpoint["methods"] if m in METHODS]
    return None if "*" in endpoint["methods"] or not methods else methods


def route_for(endpoint: dict[str, Any], taken: set[str]) -> tuple[dict[str, Any], bool]:
    """(route, exact) for one inventory row; exact: a `pattern` route matching only its paths."""
    pattern = endpoint["pattern"]
    route: dict[str, Any] = {"name": _route_name(endpoint, taken)}
    exact = not _REGEX_MARK.search(pattern) and endpoint.get("view") != "admin"
    if exact:
        try:
            pattern_regex(pattern)
        except ValueError:  # a custom converter: the proxy cannot type it
            exact = False
    if exact:
        route["pattern"] = pattern
    else:
        route["prefix"] = _literal_prefix(pattern)
    methods = _methods(endpoint)
    if methods:
        route["methods"] = methods
    route["mode"] = MONOLITH
    return route, exact


def route_table(endpoints: list[dict[str, Any]], *, monolith: str) -> str:
    """The routes file's text: every endpoint a route to the monolith, its view as a comment."""
    taken: set[str] = set()
    exact: list[tuple[dict, dict]] = []
    prefixes: list[tuple[dict, dict]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for endpoint in endpoints:
        key = (endpoint["pattern"], tuple(endpoint["methods"]))
        if key in seen:  # the same pattern listed twice (an include mounted twice)
            continue
        seen.add(key)
        route, is_exact = route_for(endpoint, taken)
        (exact if is_exact else prefixes).append((route, endpoint))
    prefixes.sort(key=lambda pair: -len(pair[0]["prefix"]))  # stable: URLconf order on ties
    head = {
        "version": 1,
        "default_upstream": MONOLITH,
        "upstreams": {
            MONOLITH: {
                "discovery": "static",
                "instances": [f"${{STRANGLER_MONOLITH_URL:-{monolith}}}"],
                "timeout": {"connect": 2, "read": 30},
            }
        },
    }
    lines = [
        "# Written by `python -m strangler_proxy adopt` from the project's URLconf: one route per",
        "# URL pattern, all to the monolith. First matching route wins; anything unmatched goes",
        "# to default_upstream. Flip one with `python -m strangler_proxy routes set NAME ...`.",
        yaml.safe_dump(head, sort_keys=False).rstrip(),
        "routes:" if exact or prefixes else "routes: []",
    ]
    for route, endpoint in [*exact, *prefixes]:
        where = f"{endpoint['pattern']} -> {endpoint.get('view') or '?'}"
        if endpoint.get("name"):
            where += f" (url name {endpoint['name']})"
        lines.append(f"  # {where}")
        for index, (key, value) in enumerate(route.items()):
            # one key a line, a list in flow style: `methods: [GET, HEAD]`
            if isinstance(value, list):  # HTTP method names: plain words
                line = f"{key}: [{', '.join(value)}]"
            else:
                line = yaml.safe_dump({key: value}, default_flow_style=False, width=200).rstrip()
            lines.append(("  - " if index == 0 else "    ") + line)
    return "\n".join(lines) + "\n"


def env_file(*, monolith: str, out: Path, settings: str, project: Path, token: str) -> str:
    return "\n".join(
        [
            "# The proxy's settings for this project (`set -a; . proxy.env; set +a`), written by",
            "# `python -m strangler_proxy adopt`. Every name is in the toolkit's .env.example.",
            f"STRANGLER_MONOLITH_URL={monolith}",
            f"STRANGLER_ROUTES_FILE={out / ROUTES}",
            f"STRANGLER_DATA_DIR={out / 'data'}",
            f"STRANGLER_ADMIN_TOKEN={token}",
            f"STRANGLER_MONOLITH_SETTINGS={settings}",
            f"STRANGLER_MONOLITH_DIR={project}",
            "",
        ]
    )


def next_steps(out: Path, count: int, monolith: str) -> str:
    return f"""wrote {out / ROUTES} ({count} routes, all to the monolith at {monolith})
wrote {out / ENV_FILE}

next steps:
  1. start the proxy in front of the monolith:
       set -a; . {out / ENV_FILE}; set +a
       python -m strangler_proxy.serve --bind 127.0.0.1:8080
  2. send your traffic to http://127.0.0.1:8080/: every answer is the monolith's
  3. see which endpoints get traffic and pick the first to extract:
       python -m strangler_proxy inventory --metrics http://127.0.0.1:8080/_strangler/metrics
  4. add the extracted service as an upstream in {out / ROUTES}, then compare before moving:
       python -m strangler_proxy routes set ROUTE --upstream NAME --mode shadow
  (the adoption guide: docs/adopt.md)"""


def adopt(*, settings: str, monolith: str, out: Path, project: Path, force: bool) -> str:
    """Write the route table and the env file; return the next steps to print."""
    monolith = monolith_url(monolith)
    routes_path = out / ROUTES
    if routes_path.exists() and not force:
        raise AdoptError(
            f"{routes_path} exists (an edited table is never replaced): pass --force to write "
            "it again from the URLconf, or --out another folder"
        )
    environ = {
        **os.environ,
        "STRANGLER_MONOLITH_SETTINGS": settings,
        "STRANGLER_MONOLITH_DIR": str(project),
    }
    environ.pop("STRANGLER_MONOLITH_INVENTORY", None)
    try:
        endpoints = read_endpoints(environ=environ)
    except InventoryError as exc:
        raise AdoptError(
            f"could not walk the URLconf of {settings!r} from {project}: {_last_line(exc)}"
        ) from exc
    text = route_table(endpoints, monolith=monolith)
    try:
        parse_table(text, source=str(routes_path))
    except RouteTableError as exc:  # a bug here, not in the project: say so plainly
        raise AdoptError(f"the generated table is refused by the schema: {exc}") from exc
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(routes_path, text.encode())
    token = secrets.token_urlsafe(24)
    env_text = env_file(monolith=monolith, out=out, settings=settings, project=project, token=token)
    atomic_write(out / ENV_FILE, env_text.encode())
    return next_steps(out, text.count("\n  - name: "), monolith)


def _last_line(exc: Exception) -> str:
    """A subprocess's traceback told as its last line (`ModuleNotFoundError: No module ...`)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else str(exc)


def cmd_adopt(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    try:
        print(
            adopt(
                settings=args.settings,
                monolith=args.monolith,
                out=out,
                project=Path(args.project).resolve(),
                force=args.force,
            )
        )
    except AdoptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_commands(top: argparse._SubParsersAction) -> None:
    parser = top.add_parser(
        "adopt", help="start strangling a Django project: a route table from its URLconf"
    )
    parser.add_argument(
        "--settings", required=True, help="its settings module, e.g. mysite.settings"
    )
    parser.add_argument(
        "--monolith", required=True, help="its running server, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--out", default="strangler", help="where to write (default ./strangler)")
    parser.add_argument("--project", default=".", help="its folder, where manage.py is (default .)")
    parser.add_argument("--force", action="store_true", help="replace an existing routes.yaml")
    parser.set_defaults(func=cmd_adopt)
