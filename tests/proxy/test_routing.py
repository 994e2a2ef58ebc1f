"""The route table and the pure resolve function: no network."""

from __future__ import annotations

import textwrap

import pytest

from strangler_proxy.routes import RouteTableError, canary_bucket, parse_table, resolve

TABLE = textwrap.dedent(
    """
    version: 1
    default_upstream: monolith
    upstreams:
      monolith:
        instances: ["http://mono:8001"]
      catalog:
        instances: ["http://catalog-1:8000", "http://catalog-2:8000"]
        balancer: p2c
    routes:
      - name: product-detail
        pattern: /api/v1/products/<int:pk>/
        methods: [GET, HEAD]
        mode: extracted
        upstream: catalog
        fallback: monolith
      - name: products
        prefix: /api/v1/products/
        mode: shadow
        upstream: catalog
      - name: orders
        prefix: /api/v1/orders/
        mode: canary
        upstream: catalog
        percent: 30
      - name: carts
        prefix: /api/v1/carts/
        mode: shadow
        upstream: catalog
        shadow: {writes: false}
    """
)


@pytest.fixture
def table():
    return parse_table(TABLE)


def test_unmatched_path_goes_to_the_default_upstream(table):
    decision = resolve(table, method="GET", path="/accounts/login/")
    assert (decision.route, decision.target, decision.shadow_to) == (None, "monolith", None)


def test_pattern_route_extracts_with_fallback_and_respects_methods(table):
    decision = resolve(table, method="GET", path="/api/v1/products/12/")
    assert (decision.route_name, decision.target, decision.fallback) == (
        "product-detail",
        "catalog",
        "monolith",
    )
    # a POST to the same path is not in the pattern route's methods: the next route matches
    assert resolve(table, method="POST", path="/api/v1/products/12/").route_name == "products"
    # the int converter refuses a slug
    assert resolve(table, method="GET", path="/api/v1/products/abc/").route_name == "products"


def test_shadow_serves_from_primary_and_copies_reads_only(table):
    read = resolve(table, method="GET", path="/api/v1/products/")
    assert (read.target, read.shadow_to) == ("monolith", "catalog")
    write = resolve(table, method="POST", path="/api/v1/products/")
    assert (write.target, write.shadow_to) == ("monolith", None)


def test_shadow_never_copies_writes(table):
    # no service honours a dry-run header: a shadowed write would be committed twice
    write = resolve(table, method="POST", path="/api/v1/carts/")
    assert (write.target, write.shadow_to) == ("monolith", None)


def test_canary_is_sticky_per_user_and_near_the_percentage(table):
    sides = {}
    for user in range(2000):
        first = resolve(table, method="GET", path="/api/v1/orders/", sticky_key=str(user))
        again = resolve(table, method="GET", path="/api/v1/orders/1/", sticky_key=str(user))
        assert first.target == again.target  # same user, same side
        sides[user] = first.target
    share = sum(1 for t in sides.values() if t == "catalog") / len(sides)
    assert 0.25 < share < 0.35


def test_raising_the_canary_percent_never_moves_a_user_back(table):
    for user in range(500):
        bucket = canary_bucket("orders", str(user))
        if bucket < 30:
            assert bucket < 50  # a user on the candidate at 30 % stays there at 50 %
    assert canary_bucket("orders", "7") == canary_bucket("orders", "7")


def test_canary_header_override_picks_a_side(table):
    for user in range(50):
        forced = resolve(
            table, method="GET", path="/api/v1/orders/", sticky_key=str(user), override="candidate"
        )
        assert forced.target == "catalog"
        back = resolve(
            table, method="GET", path="/api/v1/orders/", sticky_key=str(user), override="primary"
        )
        assert back.target == "monolith"


def test_env_placeholders_are_expanded():
    text = TABLE.replace("http://mono:8001", "${MONO_URL:-http://fallback:1}")
    assert parse_table(text, environ={}).upstreams["monolith"].instances == ("http://fallback:1",)
    table = parse_table(text, environ={"MONO_URL": "http://real:2"})
    assert table.upstreams["monolith"].instances == ("http://real:2",)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    mode: extracted\n",
            "    mode: extractd\n",
            r"routes.yaml:14: routes\[0\]\.mode: must be one of monolith, extracted",
        ),
        (
            "    percent: 30\n",
            "    percent: 300\n",
            r"routes.yaml:25: routes\[2\]\.percent: must be at most 100",
        ),
        (
            "    balancer: p2c\n",
            "    balancr: p2c\n",
            r"routes.yaml:9: upstreams\.catalog\.balancr: unknown field 'balancr'",
        ),
        (
            "    fallback: monolith\n",
            "    fallback: mono\n",
            r"routes.yaml:16: routes\[0\]\.fallback: unknown upstream \(not under upstreams\)",
        ),
        (
            "  - name: orders\n",
            "  - name: products\n",
            r"routes.yaml:21: routes\[2\]\.name: duplicate route name",
        ),
        (
            "    upstream: catalog\n    percent: 30\n",
            "    percent: 30\n",
            r"routes.yaml:23: routes\[2\]\.mode: mode canary needs an upstream",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_line_and_field(old, new, expected):
    assert old in TABLE
    with pytest.raises(RouteTableError, match=expected):
        parse_table(TABLE.replace(old, new, 1), source="routes.yaml")


def test_invalid_yaml_names_the_line():
    with pytest.raises(RouteTableError, match=r"routes.yaml:\d+: not valid YAML"):
        parse_table("upstreams: [\n  - {", source="routes.yaml")


def test_the_shipped_routes_file_is_valid():
    from strangler_proxy.routes import load_table
    from strangler_proxy.settings import STRANGLER_PROXY

    table = load_table(STRANGLER_PROXY["ROUTES_FILE"])
    assert table.default_upstream == "monolith"
    assert resolve(table, method="GET", path="/").target == "monolith"


def test_the_shipped_table_sends_graphql_reads_to_the_catalog_and_retries_only_gets():
    from servicekit.web.http_client import may_retry
    from strangler_proxy.routes import load_table
    from strangler_proxy.settings import STRANGLER_PROXY

    table = load_table(STRANGLER_PROXY["ROUTES_FILE"])
    for method in ("GET", "POST"):
        decision = resolve(table, method=method, path="/api/v1/graphql/")
        assert (decision.route_name, decision.target, decision.fallback) == (
            "catalog-graphql",
            "catalog",
            None,
        )
    # A query over POST is a read the proxy cannot see as one: tried once, unless keyed.
    assert not may_retry("POST", {})
    assert may_retry("POST", {"Idempotency-Key": "k"}) and may_retry("GET", {})
    # Other methods are not GraphQL: they fall through to the monolith's API catch-all.
    assert resolve(table, method="PUT", path="/api/v1/graphql/").route_name == "api"
