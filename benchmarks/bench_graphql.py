"""`make bench-graphql`: the same catalog reads over REST and over GraphQL, latency and bytes.

Starts the catalog service (gunicorn, 1 worker, 4 threads, as the tests do) on SQLite with 60
products in 6 categories, then times each read `--reads` times over one keep-alive connection
and prints p50/p99 per read (a read may take several REST requests) and the bytes a client
receives. The reads:

- a page of 20 products with their category and stock: REST's list page; GraphQL with the same
  fields (text in a POST, and persisted: a hash over GET); GraphQL with only the three fields a
  list view shows (what GraphQL saves: bytes);
- every category with its products: REST needs the category list then one product list per
  category (1 + 6 requests); GraphQL asks once.

Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extracted.catalog.graphql_api import persisted  # noqa: E402
from tests.support import fleet  # noqa: E402

GRAPHQL = "/api/v1/graphql/"
CATEGORIES = 6
SEED = f"from tests.extracted.catalog.builders import catalog_rows; catalog_rows(60, categories={CATEGORIES})"
# The variants `make cost` shows: the page of 20 and the categories with their products.
REST_PAGE = "REST GET /products/?page_size=20"
GRAPHQL_PAGE = "GraphQL POST, same fields"
REST_NESTED = f"REST 1 + {CATEGORIES} GETs"
GRAPHQL_NESTED = "GraphQL POST, one query"
LIST_FIELDS = "{ products(pageSize: 20) { count results { sku name price stock { inStock } } } }"


def operation(name: str) -> str:
    return (persisted.OPERATIONS_DIR / f"{name}.graphql").read_text()


def persisted_get(name: str, variables: dict) -> str:
    extensions = {
        "persistedQuery": {"version": 1, "sha256Hash": persisted.document_hash(operation(name))}
    }
    query = urlencode({"variables": json.dumps(variables), "extensions": json.dumps(extensions)})
    return f"{GRAPHQL}?{query}"


class Client:
    """One keep-alive connection; `send` returns the body, failing on anything but a 200."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def send(self, method: str, path: str, body: dict | None = None) -> bytes:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        self.conn.request(method, path, body=payload, headers=headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status != 200 or b'"errors"' in data:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:300]!r}")
        return data


def rest_categories_with_products(client: Client) -> int:
    categories = json.loads(client.send("GET", "/api/v1/categories/"))
    size = len(json.dumps(categories))
    for category in categories:
        size += len(
            client.send("GET", f"/api/v1/products/?category={category['slug']}&page_size=100")
        )
    return size


def reads() -> dict[str, tuple[str, object]]:
    """name -> (scenario, a function of the client returning the bytes received)."""
    page = {"query": operation("ProductList"), "variables": {"pageSize": 20}}
    return {
        REST_PAGE: (
            "page of 20",
            lambda c: len(c.send("GET", "/api/v1/products/?page_size=20")),
        ),
        GRAPHQL_PAGE: ("page of 20", lambda c: len(c.send("POST", GRAPHQL, page))),
        "GraphQL GET, persisted hash": (
            "page of 20",
            lambda c: len(c.send("GET", persisted_get("ProductList", {"pageSize": 20}))),
        ),
        "GraphQL POST, 4 fields": (
            "page of 20",
            lambda c: len(c.send("POST", GRAPHQL, {"query": LIST_FIELDS})),
        ),
        REST_NESTED: ("categories+products", rest_categories_with_products),
        GRAPHQL_NESTED: (
            "categories+products",
            lambda c: len(c.send("POST", GRAPHQL, {"query": operation("CategoriesWithProducts")})),
        ),
    }


def measure(
    client: Client, variants: dict, count: int, *, warm: int = 20
) -> dict[str, dict[str, float]]:
    """Round-robin over the variants, so a load spike on a shared machine hits them all alike."""
    for _ in range(warm):  # warm-up: connections, caches, the first parse of each document
        for _, read in variants.values():
            read(client)
    timings: dict[str, list[float]] = {name: [] for name in variants}
    sizes: dict[str, int] = {}
    for _ in range(count):
        for name, (_, read) in variants.items():
            start = time.perf_counter()
            sizes[name] = read(client)
            timings[name].append((time.perf_counter() - start) * 1000)
    results = {}
    for name, values in timings.items():
        values.sort()
        results[name] = {
            "p50": statistics.median(values),
            "p99": values[min(len(values) - 1, int(0.99 * len(values)))],
            "bytes": sizes[name],
        }
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300, help="timed reads per variant")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as folder:
        service = fleet.catalog(Path(folder), setup=[["shell", "-c", SEED]])
        with service:
            client = Client(service.url)
            variants = reads()
            measured = measure(client, variants, args.reads)
    header = f"{'read':<22} {'variant':<36} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>8}"
    print(
        f"\ncatalog service, 60 products / {CATEGORIES} categories, {args.reads} reads each, one connection, variants interleaved"
    )
    print(header)
    print("-" * len(header))
    for name, (scenario, _) in variants.items():
        r = measured[name]
        print(f"{scenario:<22} {name:<36} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['bytes']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
