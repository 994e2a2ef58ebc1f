"""The JSON schema of `routes.yaml`; every object is closed so a misspelt field is refused."""

from __future__ import annotations

from typing import Any

MODES = ["monolith", "extracted", "shadow", "canary"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BALANCERS = ["round_robin", "least_outstanding", "p2c", "consistent_hash"]

_positive = {"type": "number", "exclusiveMinimum": 0}
_timeout = {
    "oneOf": [
        _positive,
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"connect": _positive, "read": _positive},
        },
    ]
}
_retry = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "attempts": {"type": "integer", "minimum": 1, "maximum": 10},
        "backoff": {"type": "number", "minimum": 0},
        "max_backoff": {"type": "number", "minimum": 0},
        "on_status": {
            "type": "array",
            "items": {"type": "integer", "minimum": 500, "maximum": 599},
        },
    },
}
_breaker = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fail_max": {"type": "integer", "minimum": 1},
        "reset_timeout": _positive,
    },
}

UPSTREAM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "discovery": {"enum": ["static", "dns", "zookeeper"]},
        "instances": {"type": "array", "items": {"type": "string", "pattern": "^https?://"}},
        "dns": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "port"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "scheme": {"enum": ["http", "https"]},
                "ttl": _positive,
            },
        },
        "service": {"type": "string", "minLength": 1},
        "balancer": {"enum": BALANCERS},
        "timeout": _timeout,
        "retry": _retry,
        "breaker": _breaker,
        "max_concurrent": {"type": "integer", "minimum": 1},
        "preserve_host": {"type": "boolean"},
        "eject_after": {"type": "integer", "minimum": 1},
        "eject_for": _positive,
        "health_check": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "pattern": "^/"},
                "interval": _positive,
                "timeout": _positive,
            },
        },
    },
}

_rate = {"type": "number", "minimum": 0, "maximum": 1}
# strangler_proxy/lifecycle.py: promotion gates, canary steps, and whether the evaluator acts.
LIFECYCLE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "gates": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "min_requests": {"type": "integer", "minimum": 1},
                "max_mismatch_rate": _rate,
                "max_error_rate": _rate,
                "max_p99_ms": _positive,
                "window_seconds": _positive,
                "rollback_min_requests": {"type": "integer", "minimum": 1},
            },
        },
        "canary_steps": {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            "uniqueItems": True,
        },
        "auto": {"type": "boolean"},
        "retired": {"type": "boolean"},
    },
}

ROUTE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "oneOf": [{"required": ["prefix"]}, {"required": ["pattern"]}],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "prefix": {"type": "string", "pattern": "^/"},
        "pattern": {"type": "string", "pattern": "^/"},
        "methods": {"type": "array", "items": {"enum": METHODS}, "minItems": 1},
        "mode": {"enum": MODES},
        "upstream": {"type": "string"},
        "percent": {"type": "number", "minimum": 0, "maximum": 100},
        "fallback": {"type": "string"},
        "timeout": _timeout,
        "retry": _retry,
        "auth": {"enum": ["none", "optional", "required"]},
        "max_body": {"type": "integer", "minimum": 0},
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["requests", "per"],
            "properties": {
                "requests": {"type": "integer", "minimum": 1},
                "per": {"type": "integer", "minimum": 1},
                "key": {"enum": ["client", "user"]},
            },
        },
        "shadow": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # No service honours a dry-run header: a shadowed write would be committed by
                # the candidate too. Refused until every service can run one and roll it back.
                "writes": {
                    "const": False,
                    "x-message": "must be false: shadowed writes would be committed twice (no "
                    "service honours X-Strangler-Dry-Run); shadow copies reads only",
                },
                "ignore_fields": {"type": "array", "items": {"type": "string"}},
                "ignore_headers": {"type": "array", "items": {"type": "string"}},
                "ignore_patterns": {"type": "array", "items": {"type": "string", "minLength": 1}},
            },
        },
        "canary_header": {"type": "boolean"},
        # returns or takes credentials (token, login): never shadowed, so never captured
        "sensitive": {"type": "boolean"},
        "lifecycle": LIFECYCLE,
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["upstreams", "routes"],
    "properties": {
        "version": {"const": 1},
        "default_upstream": {"type": "string"},
        "upstreams": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"},
            "additionalProperties": UPSTREAM,
        },
        "routes": {"type": "array", "items": ROUTE},
    },
}
