"""Every service's OpenAPI schema is true to what it answers, directly and through the proxy.

Schemathesis generates requests from each schema (a fixed seed, a bounded number of examples
per operation) and checks every answer: no 5xx, only documented status codes and content
types, bodies that match their schemas. A customer and a staff bearer token each run every
operation; the monolith, which also accepts sessions, runs once more with a session cookie.
Each operation's cases are drawn once (`Draws`) and sent by every run of its service, each
with its own credentials: the draw, not the sending, was most of the suite's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

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


class Draws:
    """Each operation's cases, drawn once per service, operation and mode, sent by every run.

    Drawing is most of the cost (hypothesis builds every case from the schema), and it does not
    depend on the run's credentials: a case is drawn with none, and each run sends it with its
    own base URL, headers and cookies. The names of the cookies a run passes do change what is
    drawn (schemathesis draws a `sessionid` for the cookieAuth scheme unless one is given), so
    they are part of the key, and their values stand in as a placeholder until the run sends.
    `schema(service)` is loaded once from the fleet's schema document
    (`openapi_fleet.schema(service)`), so every cached case belongs to that schema.
    """

    def __init__(self, openapi_fleet) -> None:
        self.fleet = openapi_fleet
        self.schemas: dict[str, tuple[dict, OpenApiSchema]] = {}
        self.cases: dict[tuple, list[Case] | Exception] = {}

    def schema(self, service: str) -> OpenApiSchema:
        document = self.fleet.schema(service)
        if service not in self.schemas:
            self.schemas[service] = (document, schemathesis.openapi.from_dict(document))
        loaded_from, schema = self.schemas[service]
        assert loaded_from is document, f"{service}'s schema changed under its drawn cases"
        return schema

    def of(self, service: str, operation, mode: GenerationMode, cookies: dict) -> list[Case]:
        """The cases a `@given` test of `operation` runs, given cookies of these names."""
        key = (service, operation.label, mode, frozenset(cookies))
        if key not in self.cases:
            try:
                self.cases[key] = _draw(operation, mode, dict.fromkeys(cookies, PLACEHOLDER))
            except Exception as exc:  # every run reports it, as every run drew it before
                self.cases[key] = exc
        drawn = self.cases[key]
        if isinstance(drawn, Exception):
            raise drawn
        return drawn


# What a drawn case carries for a cookie the run passes: each run sends its own value.
PLACEHOLDER = "set-by-the-run"


def _draw(operation, mode: GenerationMode, cookies: dict[str, str]) -> list[Case]:
    drawn: list[Case] = []

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, cookies=cookies or None))
    def collect(case):
        drawn.append(case)

    try:
        collect()
    except Unsatisfiable:
        # an operation with no parameter and no body has nothing to get wrong
        if mode is not GenerationMode.NEGATIVE:
            raise
    return drawn


def _expected(operation, mode: GenerationMode) -> int:
    """The cases hypothesis runs per mode: EXAMPLES, or for an operation with nothing to draw
    (no parameter, no body, no credentials) the one positive case and no negative one."""
    locations = ("path_parameters", "headers", "cookies", "query")
    if operation.body or any(list(getattr(operation, location)) for location in locations):
        return EXAMPLES[mode]
    return 1 if mode is GenerationMode.POSITIVE else 0


@pytest.fixture(scope="module")
def draws(openapi_fleet) -> Draws:
    return Draws(openapi_fleet)


def _check_operation(
    cases: list[Case], *, base_url: str, headers: dict, cookies: dict
) -> tuple[int, list[BaseException]]:
    """Send every case with this run's credentials; the number answered, and what failed."""
    answered, failures = 0, []
    for case in cases:
        # A copy per send, with this run's cookie values where the draw has placeholders: the
        # drawn case keeps no run's credentials (nor anything a call records on it).
        sent = case.derive(cookies={**case.cookies, **cookies})
        assert PLACEHOLDER not in sent.cookies.values(), sent.cookies
        try:
            sent.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
        # a FailureGroup is a BaseExceptionGroup, not an Exception
        except (Exception, FailureGroup) as exc:
            failures.append(exc)
        else:
            answered += 1
    return answered, failures


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
def test_the_schema_holds(draws, run: Run):
    schema = draws.schema(run.service)
    base_url = draws.fleet.url(run.service, run.via)
    headers, cookies = _credentials(draws.fleet, run.auth)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if run.via == "proxy" and operation.path in NOT_AT_THE_EDGE.get(run.service, ()):
            continue
        operations += 1
        # Every operation runs; the report names each that failed, with its first failing case.
        try:
            for mode in EXAMPLES:
                cases = draws.of(run.service, operation, mode, cookies)
                answered, failed = _check_operation(
                    cases, base_url=base_url, headers=headers, cookies=cookies
                )
                if failed:
                    failures.append(
                        f"{operation.label} ({mode.value}: {len(failed)} of {len(cases)} cases"
                        f" failed, the first):\n{failed[0]}"
                    )
                    break
                # every drawn case was sent and answered (a cache that sent nothing would pass)
                assert answered == len(cases) == _expected(operation, mode), (
                    operation.label,
                    mode.value,
                    answered,
                    len(cases),
                )
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert operations, f"{run.service}'s schema has no operation"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(
        failures
    )
