"""Every endpoint of a Django project's URLconf, as data: `python -m servicekit.web.url_inventory`.

Runs inside any Django project, ours or not, without being added to it: from the project's folder,
`DJANGO_SETTINGS_MODULE=mysite.settings python -m servicekit.web.url_inventory --json` (the
monolith's `manage.py urls_inventory` is the same walk). The strangler proxy's `inventory`
command reads this output (it never imports the monolith's code): per endpoint the Django-style
pattern (regex patterns as written, backslashes kept), an example path the pattern and a typed
route both match, the HTTP methods where the view tells them (a class-based view's handlers and
`http_method_names`, DRF views and viewset actions, `require_http_methods` and its shortcuts;
`*` when a function view does not say), the view and the URL name.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

# Example values tried in order for a path parameter: the first its regex accepts is used, so
# the example is a path the URLconf (and a typed route) really matches.
_CANDIDATES = ("1", "ABC-001", "x", "abc", "00000000-0000-0000-0000-000000000000", "a/b")
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


def _sample(regex: str) -> str:
    for candidate in _CANDIDATES:
        try:
            if re.fullmatch(regex, candidate):
                return candidate
        except re.error:
            break
    return "x"


def _groups(regex: str) -> list[tuple[int, int, str | None, str]]:
    """(start, end, name, inner regex) of each top-level group in `regex`."""
    out, depth, start, escaped = [], 0, 0, False
    for index, char in enumerate(regex):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            if depth == 0:
                start = index
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                body = regex[start + 1 : index]
                named = _NAMED_GROUP.match(regex, start)
                name = named.group("name") if named else None
                inner = body[len(named.group(0)) - 1 :] if named else body.removeprefix("?:")
                out.append((start, index + 1, name, inner))
    return out


def _part(pattern: Any) -> tuple[str, str]:
    """(Django-style text, example) for one level of a URL pattern."""
    from django.urls.resolvers import RegexPattern, RoutePattern

    if isinstance(pattern, RoutePattern):
        text = str(pattern._route)

        def example_of(match: re.Match) -> str:
            converter = pattern.converters.get(match.group("name"))
            return _sample(converter.regex) if converter is not None else "x"

        return text, _PARAM.sub(example_of, text)
    if isinstance(pattern, RegexPattern):
        regex = pattern._regex.removeprefix("^").removesuffix("$").replace("\\Z", "")
        text, example, last = "", "", 0
        for start, end, name, inner in _groups(regex):
            literal = regex[last:start]
            text += literal + (f"<{name}>" if name else regex[start:end])
            example += _unescape(literal) + _sample(inner)
            last = end
        text += regex[last:]
        example += _unescape(regex[last:])
        return text, example
    return str(pattern), str(pattern)


def _unescape(literal: str) -> str:
    """A regex's literal text as a path: escapes dropped, optional and anything-markers gone."""
    return re.sub(r"\\(.)", r"\1", literal).replace(".*", "").replace("?", "")


_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def _declared_methods(function: Callable) -> set[str] | None:
    """What `require_http_methods` (and `require_GET`, `require_POST`, `require_safe`) allow:
    the decorator keeps its list in the wrapper's closure. Other decorators in between
    (`login_required`, `csrf_exempt`) are followed through `__wrapped__`."""
    seen: set[int] = set()
    current: Any = function
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for cell in getattr(current, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if (
                isinstance(value, list | tuple | set | frozenset)
                and value
                and all(isinstance(m, str) and m in _HTTP_METHODS for m in value)
            ):
                return set(value)
        current = getattr(current, "__wrapped__", None)
    return None


def _methods(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset bound to its router's actions
        methods = {m.upper() for m in actions}
    else:
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if cls is None:
            declared = _declared_methods(callback)
            if declared is None:
                return ["*"]
            methods = declared - {"OPTIONS", "TRACE"}
        else:
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


def endpoints(resolver: Any = None) -> list[dict[str, Any]]:
    """Every endpoint of `resolver` (default: the project's ROOT_URLCONF). Django is set up."""
    from django.urls import URLPattern, URLResolver, get_resolver

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


def render(rows: list[dict[str, Any]], *, as_json: bool) -> str:
    if as_json:
        return json.dumps({"endpoints": rows}, indent=1)
    return "\n".join(
        f"{','.join(row['methods']):28} {row['pattern']:60} {row['view']}" for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m servicekit.web.url_inventory [--json]` in a project: DJANGO_SETTINGS_MODULE
    names its settings (never guessed: a wrong guess would list another project)."""
    args = sys.argv[1:] if argv is None else argv
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        print(
            "error: DJANGO_SETTINGS_MODULE is not set; name the project's settings, e.g. "
            "DJANGO_SETTINGS_MODULE=mysite.settings python -m servicekit.web.url_inventory --json",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, os.getcwd())  # the project's packages, as `manage.py` would find them
    import django

    django.setup()
    print(render(endpoints(), as_json="--json" in args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
