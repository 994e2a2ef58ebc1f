"""`python manage.py urls_inventory --json`: every endpoint of the monolith's URLconf, as data.

The strangler proxy's `inventory` command reads this output (it never imports monolith code):
per endpoint the Django-style pattern, an example path, the HTTP methods (from DRF views and
viewset actions; `*` when a plain function view does not say), the view and the URL name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

SAMPLES = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000000"}
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)|\([^)]*\)")


def _part(pattern: Any) -> tuple[str, str]:
    """(Django-style text, example) for one level of a URL pattern."""
    if isinstance(pattern, RoutePattern):
        text = str(pattern._route)
        example = _PARAM.sub(lambda m: SAMPLES.get(m.group("conv") or "str", "x"), text)
        return text, example
    if isinstance(pattern, RegexPattern):
        regex = pattern._regex.lstrip("^").rstrip("$").replace("\\Z", "")
        text = regex.replace("\\", "")
        example = _GROUP.sub("x", regex).replace("\\", "").replace(".*", "").replace("?", "")
        return text, example
    return str(pattern), str(pattern)


def _methods(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset bound to its router's actions
        methods = {m.upper() for m in actions}
    else:
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if cls is None:
            return ["*"]
        methods = {
            m.upper()
            for m in getattr(cls, "http_method_names", [])
            if m not in ("options", "trace") and hasattr(cls, m)
        }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods) or ["*"]


def _view_name(callback: Any) -> str:
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    target = cls or callback
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def endpoints(resolver: URLResolver | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(patterns: list, text: str, example: str, namespace: str) -> None:
        for entry in patterns:
            part_text, part_example = _part(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                if entry.app_name == "admin":  # Django's admin is one endpoint for this purpose
                    out.append(_row(text + part_text, example + part_example, ["*"], "admin", ""))
                    continue
                walk(entry.url_patterns, text + part_text, example + part_example, ns)
            elif isinstance(entry, URLPattern):
                out.append(
                    _row(
                        text + part_text,
                        example + part_example,
                        _methods(entry.callback),
                        _view_name(entry.callback),
                        f"{namespace}{entry.name}" if entry.name else "",
                    )
                )

    walk((resolver or get_resolver()).url_patterns, "", "", "")
    return out


def _row(text: str, example: str, methods: list[str], view: str, name: str) -> dict[str, Any]:
    return {
        "pattern": "/" + text,
        "example": "/" + example,
        "methods": methods,
        "view": view,
        "name": name,
    }


class Command(BaseCommand):
    help = "List every endpoint of the URLconf (for `python -m strangler_proxy inventory`)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")

    def handle(self, *args, **options) -> None:
        rows = endpoints()
        if options["json"]:
            self.stdout.write(json.dumps({"endpoints": rows}, indent=1))
            return
        for row in rows:
            self.stdout.write(f"{','.join(row['methods']):28} {row['pattern']:60} {row['view']}")
