"""`make test`: every suite on the embedded defaults, then the integration tests on real servers.

Each suite runs in its own pytest process with its own Django settings module (every service has
its own). With CI=true, a real backend that is unreachable fails the run instead of being skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backends

ROOT = Path(__file__).resolve().parent.parent

# (name, settings module, test folders). A folder that does not exist yet is passed over.
SUITES: list[tuple[str, str, list[str]]] = [
    ("monolith", "monolith.settings", ["tests/monolith", "tests/servicekit", "tests/contracts"]),
    ("events", "monolith.settings", ["tests/events"]),
    ("proxy", "strangler_proxy.settings", ["tests/proxy"]),
    ("control", "strangler_proxy.settings", ["tests/control"]),
    ("catalog", "extracted.catalog.settings", ["tests/extracted/catalog"]),
    ("notifications", "extracted.notifications.settings", ["tests/extracted/notifications"]),
    # The order email as a serverless function (functions/order_email): functions-framework and
    # AWS's Lambda runtime client started for real; the notifications settings for the test that
    # compares its email with the service's.
    ("functions", "extracted.notifications.settings", ["tests/functions"]),
    ("users", "extracted.users.settings", ["tests/extracted/users"]),
    ("orders", "extracted.orders.settings", ["tests/extracted/orders"]),
    ("parity", "monolith.settings", ["tests/parity"]),
    # The catalog's product reads in other languages (polyglot/) against the Python catalog
    # service; `integration` (PostgreSQL and RabbitMQ), so they run on the real pass only.
    ("polyglot", "extracted.catalog.settings", ["tests/polyglot"]),
    # Schemathesis against every service's OpenAPI schema, directly and through the proxy; its
    # tests are `integration`, so it runs again on PostgreSQL.
    ("openapi", "monolith.settings", ["tests/openapi"]),
    ("tutorial", "monolith.settings", ["tests/tutorial"]),
    # A project we did not write (wagtail's starter site) in a virtual environment of its own,
    # adopted with `python -m strangler_proxy adopt`: route table, crawl parity, shadow/canary.
    ("adopt", "strangler_proxy.settings", ["tests/adopt"]),
    ("e2e", "monolith.settings", ["tests/e2e"]),
    ("infra", "monolith.settings", ["tests/infra"]),
    # podman builds the images and runs docker-compose.yml's fleet (deploy/podman/).
    ("containers", "monolith.settings", ["tests/containers"]),
]


@dataclass
class Tally:
    """Tests counted over every suite and backend, from each pytest run's JUnit XML report."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (suite [backends], wall)

    def add_report(self, report: Path, returncode: int) -> None:
        counted_failures = 0
        if report.exists():
            root = ET.parse(report).getroot()  # noqa: S314 (our own pytest wrote it)
            for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
                tests = int(suite.get("tests", 0))
                failures = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
                skipped = int(suite.get("skipped", 0))
                self.passed += tests - failures - skipped
                self.skipped += skipped
                counted_failures += failures
        self.failed += counted_failures
        # A run that failed without a failing test in its report (a crash, a collection error,
        # an internal error) still counts as one failure: the total never hides a red suite.
        if returncode not in (0, 5) and counted_failures == 0:
            self.failed += 1

    def line(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


def run_suite(
    name: str, settings: str, paths: list[str], env: dict[str, str], extra: list[str], tally: Tally
) -> int:
    present = [p for p in paths if (ROOT / p).exists()]
    if not present:
        return 0
    print(f"\n=== suite {name} [{env['STRANGLER_BACKENDS']}] ({' '.join(present)}) ===", flush=True)
    suite_env = {**env, "DJANGO_SETTINGS_MODULE": settings}
    suite_env["STRANGLER_DATA_DIR"] = tempfile.mkdtemp(prefix=f"strangler-{name}-")
    report = Path(suite_env["STRANGLER_DATA_DIR"]) / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", *present, f"--junit-xml={report}", *extra]
    began = time.monotonic()
    returncode = subprocess.call(cmd, cwd=ROOT, env=suite_env)
    tally.seconds.append((f"{name} [{env['STRANGLER_BACKENDS']}]", time.monotonic() - began))
    tally.add_report(report, returncode)
    return returncode


# Suites whose every test runs again on the real servers; the others run only their
# `integration` tests there. "events": the relay, inbox and outbox unit tests take hand-written
# PostgreSQL statements there (servicekit/events/prepared.py). "tutorial" and "e2e": the walk
# users follow and the one-trace check start what `make run` starts, so they run on PostgreSQL
# (a fresh database per service, dropped after), RabbitMQ and Redis too (tests/support/fleet.py).
# "functions": the function's ledger on a fresh PostgreSQL database.
FULL_REAL_PASS = {
    "monolith",
    "events",
    "catalog",
    "notifications",
    "functions",
    "orders",
    "users",
    "tutorial",
    "e2e",
}


def main(argv: list[str]) -> int:
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
    }
    base["DJANGO_ENV"] = "test"
    # The hundreds of Python processes the suites start (fleets, CLIs, workers) read the
    # project's bytecode from __pycache__; with PYTHONDONTWRITEBYTECODE set (some machines and
    # images set it) none is ever written, and every start compiles the project's modules again.
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base.setdefault("STRANGLER_TEST_DB_SUFFIX", uuid.uuid4().hex[:8])
    failures: list[str] = []
    tally = Tally()

    embedded = {**base, "STRANGLER_BACKENDS": "sqlite+filesystem"}
    for name, settings, paths in SUITES:
        if run_suite(name, settings, paths, embedded, argv, tally) not in (0, 5):
            failures.append(f"{name} on sqlite+filesystem")

    up = backends.available(patience=60.0 if ci else 0.0)
    print(f"\nreal servers reachable: {up}", flush=True)
    if all(up[k] for k in ("postgres", "rabbitmq")):
        real = {
            **base,
            "STRANGLER_BACKENDS": "postgres+rabbitmq" + ("+redis" if up["redis"] else ""),
            "STRANGLER_REQUIRE_BACKENDS": "postgres,rabbitmq" + (",redis" if up["redis"] else ""),
            "DATABASE_URL": backends.POSTGRES_URL,
            "CELERY_BROKER_URL": backends.RABBITMQ_URL,
        }
        if up["redis"]:
            real["REDIS_URL"] = backends.REDIS_URL
        for name, settings, paths in SUITES:
            selection = [] if name in FULL_REAL_PASS else ["-m", "integration"]
            if run_suite(name, settings, paths, real, [*selection, *argv], tally) not in (0, 5):
                failures.append(f"{name} on {real['STRANGLER_BACKENDS']}")
    elif ci:
        failures.append(f"real servers expected in CI but unreachable: {up}")
    else:
        print(
            "PostgreSQL/RabbitMQ unreachable: integration tests ran on the embedded defaults only"
        )

    # Where the time went (CI has a budget): slowest first.
    print("\n=== suite times ===")
    for label, seconds in sorted(tally.seconds, key=lambda item: -item[1]):
        print(f"{seconds / 60:6.1f} min  {label}")
    print(f"{sum(s for _, s in tally.seconds) / 60:6.1f} min  in all")
    print(
        "\n=== backends used: sqlite+filesystem"
        + (", postgres+rabbitmq" if all(up[k] for k in ("postgres", "rabbitmq")) else "")
        + " ==="
    )
    if failures:
        print("FAILED: " + "; ".join(failures))
        tally.failed = max(tally.failed, len(failures))
    else:
        print("all suites passed")
    # The last line, and the only one in this shape: how a landing knows what ran.
    print(tally.line(), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
