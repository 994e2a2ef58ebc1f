"""The catalog service answers like the monolith, scenario by scenario (tests/parity/corpus_catalog.yaml).

The monolith is seeded with the demo data; the service is filled by its backfill command over
HTTP from the monolith's export API (the real path). For the write scenarios each side owns the
catalog in its own run (its own ownership file), so both perform the same writes.
The service is also asked through the proxy, on both planes (tests/parity/planes.py): every
read directly, through the Python proxy and through nginx; every write once, through nginx.
"""

from __future__ import annotations

import pytest
import urllib3

from tests.parity.harness import load_corpus
from tests.parity.planes import Sides, assert_service_matches, planes
from tests.support import fleet

pytestmark = pytest.mark.integration

RULES, SCENARIOS = load_corpus("corpus_catalog.yaml")
# what the proxy sends to the service (strangler_proxy/routes.yaml); the rest to the monolith
PREFIXES = ("/api/v1/products/", "/api/v1/categories/")
DEMO_PASSWORDS = {"alice": "alice-demo-pass", "staff": "staff-demo-pass"}


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    data = tmp_path_factory.mktemp("parity-catalog")
    (data / "monolith-owns.yaml").write_text("product: monolith\ninventory: monolith\n")
    (data / "catalog-owns.yaml").write_text("product: catalog\ninventory: catalog\n")
    with fleet.monolith(
        data,
        env={"OWNERSHIP_FILE": str(data / "monolith-owns.yaml")},
        setup=[["seed_demo"]],
    ) as monolith:
        service = fleet.catalog(
            data,
            env={
                "OWNERSHIP_FILE": str(data / "catalog-owns.yaml"),
                "JWKS_URL": f"{monolith.url}/.well-known/jwks.json",
                "BACKFILL_PASSWORD": DEMO_PASSWORDS["staff"],
            },
            setup=[
                [
                    "catalog_backfill",
                    "--source",
                    monolith.url,
                    "--username",
                    "staff",
                    "--page-size",
                    "70",
                ]
            ],
        )
        with service, planes(data / "planes", monolith, service, PREFIXES) as through:
            http = urllib3.PoolManager()
            tokens = {}
            for user, password in DEMO_PASSWORDS.items():
                response = http.request(
                    "POST",
                    f"{monolith.url}/api/v1/auth/token",
                    json={"username": user, "password": password},
                )
                assert response.status == 200, response.data
                tokens[user] = response.json()["access"]
            yield Sides(monolith, service, tokens, http, through)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_catalog_service_matches_the_monolith(sides, scenario):
    left = assert_service_matches(sides, scenario, RULES[scenario.route], label="catalog")
    assert left.status < 500, left


def test_the_corpus_covers_every_catalog_endpoint():
    covered = {(s.method, _template(s.path)) for s in SCENARIOS}
    expected = {
        ("GET", "/api/v1/products/"),
        ("POST", "/api/v1/products/"),
        ("GET", "/api/v1/products/{sku}/"),
        ("PATCH", "/api/v1/products/{sku}/"),
        ("GET", "/api/v1/products/{sku}/price/"),
        ("POST", "/api/v1/products/{sku}/price/"),
        ("GET", "/api/v1/products/{sku}/inventory/"),
        ("PUT", "/api/v1/products/{sku}/inventory/"),
        ("GET", "/api/v1/categories/"),
        ("POST", "/api/v1/categories/"),
    }
    assert expected <= covered, expected - covered


def _template(path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[2] == "products":
        parts[3] = "{sku}"
        parts = parts[:5]
    return "/" + "/".join(parts) + "/"
