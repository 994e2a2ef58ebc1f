"""Every service's OpenAPI schema is true to what it answers, directly and through the proxy.

Schemathesis generates requests from each schema (a fixed seed, a bounded number of examples
per operation) and checks every answer: no 5xx, only documented status codes and content
types, bodies that match their schemas. A customer and a staff bearer token each run every
operation; the monolith, which also accepts sessions, runs once more with a session cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation: valid input (the schema's own values), then input the schema refuses (which
# must be answered with a documented 4xx). Bounded so the suite takes about two minutes.
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}


@dataclass(frozen=True)
class Run:
    service: str
    auth: str  # customer | staff | session
    via: str  # direct | proxy

    def __str__(self) -> str:
        return f"{self.service}-{self.auth}-{self.via}"


RUNS = [
    *[
        Run(service, auth, via)
        for service in ("monolith", "catalog", "notifications", "users", "orders")
        for auth in ("customer", "staff")
        for via in ("direct", "proxy")
    ],
    Run("monolith", "session", "direct"),
    Run("monolith", "session", "proxy"),
]


def _credentials(openapi_fleet, auth: str) -> tuple[dict[str, str], dict[str, str]]:
    if auth == "session":
        return {}, {"sessionid": openapi_fleet.session_cookie}
    return {"Authorization": f"Bearer {openapi_fleet.tokens[auth]}"}, {}


def _check_operation(operation, *, mode, base_url: str, headers: dict, cookies: dict) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, cookies=cookies or None))
    def check(case):
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    try:
        check()
    except Unsatisfiable:
        # an operation with no parameter and no body has nothing to get wrong
        if mode is not GenerationMode.NEGATIVE:
            raise


# Per service, an operation that needs the caller known (staff-only where customers are
# refused), so a run whose credentials were refused everywhere cannot pass unseen.
KNOWN_CALLER = {
    "monolith": ("/api/v1/users/me", "/api/v1/users/"),
    "catalog": ("/api/v1/categories/", "/api/v1/catalog/export/"),
    "notifications": ("/api/v1/notifications/", "/api/v1/notifications/"),
    "users": ("/api/v1/users/me", "/api/v1/users/"),
    "orders": ("/api/v1/orders/", "/api/v1/orders/"),
}


@pytest.mark.parametrize("run", RUNS, ids=str)
def test_the_credentials_of_each_run_are_accepted(openapi_fleet, run: Run):
    customer_path, staff_path = KNOWN_CALLER[run.service]
    path = customer_path if run.auth == "customer" else staff_path
    headers, cookies = _credentials(openapi_fleet, run.auth)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = urllib3.request(
        "GET", openapi_fleet.url(run.service, run.via) + path, headers=headers, timeout=30
    )
    assert response.status == 200, response.data[:500]


# Service-to-service operations the edge does not route: the checkout quote is the orders
# service's call to the catalog (REST or gRPC, migrations_plan/appendix-grpc.md), not a client's.
NOT_AT_THE_EDGE = {"catalog": {"/api/v1/catalog/quote/"}}


@pytest.mark.parametrize("run", [r for r in RUNS if r.via == "proxy"], ids=str)
def test_service_to_service_operations_are_not_routed_at_the_edge(openapi_fleet, run: Run):
    headers, _ = _credentials(openapi_fleet, run.auth)
    for path in NOT_AT_THE_EDGE.get(run.service, ()):
        response = urllib3.request(
            "GET", openapi_fleet.url(run.service, run.via) + path, headers=headers, timeout=30
        )
        assert response.status == 404, (path, response.status, response.data[:300])
        assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("run", RUNS, ids=str)
def test_the_schema_holds(openapi_fleet, run: Run):
    schema = schemathesis.openapi.from_dict(openapi_fleet.schema(run.service))
    base_url = openapi_fleet.url(run.service, run.via)
    headers, cookies = _credentials(openapi_fleet, run.auth)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if run.via == "proxy" and operation.path in NOT_AT_THE_EDGE.get(run.service, ()):
            continue
        operations += 1
        try:
            for mode in EXAMPLES:
                _check_operation(
                    operation, mode=mode, base_url=base_url, headers=headers, cookies=cookies
                )
        # Every operation runs; the report names each that failed (a FailureGroup is a
        # BaseExceptionGroup, not an Exception).
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert operations, f"{run.service}'s schema has no operation"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(
        failures
    )
