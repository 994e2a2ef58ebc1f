"""Loading `routes.yaml`: `${VAR}` expansion, schema validation with line numbers, typed table."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import jsonschema
import yaml

from strangler_proxy.routes.model import (
    MONOLITH,
    RateLimit,
    RetryPolicy,
    Route,
    RouteTable,
    RouteTableError,
    Timeout,
    Upstream,
)
from strangler_proxy.routes.schema import SCHEMA

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CONVERTERS = {
    "int": r"[0-9]+",
    "str": r"[^/]+",
    "slug": r"[-a-zA-Z0-9_]+",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "path": r".+",
}
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Django-style `/api/v1/products/<int:pk>/`; a trailing `*` matches any rest of the path."""
    out, pos = [], 0
    rest = pattern.endswith("*")
    body = pattern[:-1] if rest else pattern
    for match in _PARAM.finditer(body):
        out.append(re.escape(body[pos : match.start()]))
        conv = match.group("conv") or "str"
        if conv not in _CONVERTERS:
            raise ValueError("unknown path converter (use int, str, slug, uuid or path)")
        out.append(f"(?P<{match.group('name')}>{_CONVERTERS[conv]})")
        pos = match.end()
    out.append(re.escape(body[pos:]))
    if rest:
        out.append(".*")
    return re.compile("".join(out))


def expand_env(value: Any, environ: dict[str, str] | os._Environ[str]) -> Any:
    """`${VAR}` and `${VAR:-default}` in string values, so one file serves every environment."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    return value


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the deepest YAML node reachable along a JSON-schema error path."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((pair for pair in node.value if pair[0].value == key), None)
            if found is None:
                break
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _where(path: list[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _error(source: str, node: yaml.Node | None, path: list[Any], message: str) -> RouteTableError:
    line = _line_of(node, path)
    at = f"{source}:{line}" if line else source
    return RouteTableError(f"{at}: {_where(path)}: {message}")


def _best_error(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    return jsonschema.exceptions.best_match(errors)


def _rule(err: jsonschema.ValidationError) -> str:
    """The rule a value broke, never the value itself: values may come from the environment
    (`${VAR}`) or from an operator's request, and errors are shown and logged."""
    custom = err.schema.get("x-message") if isinstance(err.schema, dict) else None
    if custom:
        return custom
    rule = err.validator_value
    words = {
        "enum": lambda: "must be one of " + ", ".join(str(v) for v in rule),
        "const": lambda: f"must be {json.dumps(rule)}",
        "type": lambda: f"must be of type {rule if isinstance(rule, str) else ' or '.join(rule)}",
        "minimum": lambda: f"must be at least {rule}",
        "maximum": lambda: f"must be at most {rule}",
        "exclusiveMinimum": lambda: f"must be greater than {rule}",
        "exclusiveMaximum": lambda: f"must be less than {rule}",
        "pattern": lambda: f"must match {rule}",
        "minLength": lambda: f"must have at least {rule} characters",
        "minItems": lambda: f"must have at least {rule} items",
        "minProperties": lambda: f"must have at least {rule} entries",
        "uniqueItems": lambda: "items must be unique",
        "required": lambda: err.message,  # names the missing field (from the schema)
        "oneOf": lambda: "must match exactly one of the allowed forms",
        "propertyNames": lambda: "names must match ^[A-Za-z0-9_.-]+$",
    }
    explain = words.get(str(err.validator))
    return explain() if explain else f"breaks the {err.validator} rule"


# libyaml's parser and emitter when PyYAML has them (its wheels do): the pure-Python ones took
# ~0.2 s per parse of an 80-route table under load, and a `routes set` parses three times and
# writes once. The emitter writes the same text for route tables (it may fold a long quoted
# string elsewhere, the same value).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def yaml_load(text: str) -> Any:
    """`yaml.safe_load`, by libyaml where available."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)


def yaml_dump(data: Any, **options: Any) -> str:
    """`yaml.safe_dump`, by libyaml where available."""
    return yaml.dump(data, Dumper=_YAML_DUMPER, **options)


def parse_table(
    text: str, *, source: str = "routes.yaml", environ: dict[str, str] | None = None
) -> RouteTable:
    """Parse and validate; raise `RouteTableError` naming the line and field of the first fault."""
    environ = os.environ if environ is None else environ
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
        data = yaml_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RouteTableError(f"{source}{line}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RouteTableError(f"{source}: the file must hold a mapping with upstreams and routes")
    expanded = expand_env(data, environ)
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(expanded))
    if errors:
        err = _best_error(errors)
        path = list(err.absolute_path)
        message = _rule(err)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            if extra:
                path.append(extra[0])
                message = f"unknown field {extra[0]!r}"
        raise _error(source, node, path, message)
    return _build(expanded, raw=data, node=node, source=source)


def _timeout(value: Any, default: Timeout) -> Timeout:
    if value is None:
        return default
    if isinstance(value, dict):
        return Timeout(value.get("connect", default.connect), value.get("read", default.read))
    return Timeout(min(float(value), default.connect), float(value))


def _retry(value: dict | None, default: RetryPolicy) -> RetryPolicy:
    if value is None:
        return default
    return RetryPolicy(
        attempts=value.get("attempts", default.attempts),
        backoff=value.get("backoff", default.backoff),
        max_backoff=value.get("max_backoff", default.max_backoff),
        on_status=frozenset(value.get("on_status", default.on_status)),
    )


def _build(data: dict, *, raw: dict, node: yaml.Node, source: str) -> RouteTable:
    upstreams: dict[str, Upstream] = {}
    for name, spec in data["upstreams"].items():
        discovery = spec.get("discovery", "static")
        where = ["upstreams", name]
        if discovery == "static" and not spec.get("instances"):
            raise _error(source, node, where, "a static upstream needs at least one instance")
        if discovery == "dns" and "dns" not in spec:
            raise _error(source, node, where, "discovery: dns needs a dns: {name, port} block")
        health = spec.get("health_check")
        breaker = spec.get("breaker", {})
        upstreams[name] = Upstream(
            name=name,
            discovery=discovery,
            instances=tuple(u.rstrip("/") for u in spec.get("instances", ())),
            dns=spec.get("dns"),
            service=spec.get("service", name),
            balancer=spec.get("balancer", "round_robin"),
            timeout=_timeout(spec.get("timeout"), Timeout()),
            retry=_retry(spec.get("retry"), RetryPolicy()),
            fail_max=breaker.get("fail_max", 5),
            reset_timeout=float(breaker.get("reset_timeout", 30.0)),
            max_concurrent=spec.get("max_concurrent", 100),
            preserve_host=spec.get("preserve_host", Upstream.preserve_host),
            eject_after=spec.get("eject_after", 3),
            eject_for=float(spec.get("eject_for", 10.0)),
            health_path=health.get("path", "/readyz") if health is not None else None,
            health_interval=float((health or {}).get("interval", 5.0)),
            health_timeout=float((health or {}).get("timeout", 1.0)),
        )
    default = data.get("default_upstream", MONOLITH)
    if default not in upstreams:
        raise _error(source, node, ["default_upstream"], "the default upstream is not declared")
    routes: list[Route] = []
    seen: set[str] = set()
    for index, spec in enumerate(data["routes"]):
        where = ["routes", index]
        if spec["name"] in seen:
            raise _error(source, node, [*where, "name"], "duplicate route name")
        seen.add(spec["name"])
        mode = spec.get("mode", "monolith")
        for key in ("upstream", "fallback"):
            if spec.get(key) is not None and spec[key] not in upstreams:
                raise _error(source, node, [*where, key], "unknown upstream (not under upstreams)")
        if mode in ("extracted", "shadow", "canary") and not spec.get("upstream"):
            raise _error(source, node, [*where, "mode"], f"mode {mode} needs an upstream")
        if mode == "shadow" and spec.get("sensitive"):
            raise _error(
                source,
                node,
                [*where, "mode"],
                "a sensitive route is never shadowed (its requests and answers carry credentials)",
            )
        regex = None
        if "pattern" in spec:
            try:
                regex = pattern_regex(spec["pattern"])
            except (ValueError, re.error) as exc:
                raise _error(source, node, [*where, "pattern"], str(exc)) from exc
        limit = spec.get("rate_limit")
        shadow = spec.get("shadow", {})
        for index, text in enumerate(shadow.get("ignore_patterns", ())):
            try:
                re.compile(text)
            except re.error as exc:
                field_path = [*where, "shadow", "ignore_patterns", index]
                raise _error(source, node, field_path, f"not a regular expression: {exc}") from exc
        upstream_name = spec.get("upstream") or default
        routes.append(
            Route(
                name=spec["name"],
                prefix=spec.get("prefix"),
                pattern=spec.get("pattern"),
                methods=frozenset(spec["methods"]) if spec.get("methods") else None,
                mode=mode,
                upstream=spec.get("upstream"),
                percent=float(spec.get("percent", 0)),
                fallback=spec.get("fallback"),
                timeout=_timeout(spec.get("timeout"), upstreams[upstream_name].timeout)
                if "timeout" in spec
                else None,
                retry=_retry(spec.get("retry"), RetryPolicy()) if "retry" in spec else None,
                auth=spec.get("auth", "none"),
                rate_limit=RateLimit(limit["requests"], limit["per"], limit.get("key", "client"))
                if limit
                else None,
                shadow_ignore_fields=tuple(shadow.get("ignore_fields", ())),
                shadow_ignore_headers=tuple(h.lower() for h in shadow.get("ignore_headers", ())),
                shadow_ignore_patterns=tuple(shadow.get("ignore_patterns", ())),
                canary_header=spec.get("canary_header", True),
                sensitive=spec.get("sensitive", False),
                max_body=spec.get("max_body"),
                lifecycle=spec.get("lifecycle"),
                regex=regex,
            )
        )
    return RouteTable(upstreams=upstreams, routes=tuple(routes), default_upstream=default, raw=raw)


def load_table(
    path: str | os.PathLike[str], *, environ: dict[str, str] | None = None
) -> RouteTable:
    with open(path, encoding="utf-8") as handle:
        return parse_table(handle.read(), source=os.fspath(path), environ=environ)
