"""`export gateway`: the route table as Gateway API HTTPRoutes that send every request where the
Python proxy's first-match-wins table sends it, under the Gateway API's own precedence rules
(simulated here from the spec), and that the Gateway API's schemas accept."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strangler_proxy.export import gateway
from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.model import RouteTable
from strangler_proxy.routes.resolve import resolve
from tests.support import gateway_api

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = (ROOT / "strangler_proxy" / "routes.yaml").read_text()
MODES = ("monolith", "extracted", "shadow", "canary")
COMPARATOR = gateway.Backend("proxy", 8000)


# --- the Gateway API's matching, as the spec (HTTPRouteRule, HTTPRouteMatch) states it ---------


def _path_matches(match: dict, path: str) -> bool:
    kind, value = match["path"]["type"], match["path"]["value"]
    if kind == "RegularExpression":
        return re.fullmatch(value, path) is not None
    assert kind == "PathPrefix"
    base = value.rstrip("/")  # element by element; a trailing slash is ignored
    return base == "" or path == base or path.startswith(base + "/")


def gateway_pick(documents: list[dict], method: str, path: str, *, regex_first: bool):
    """The rule a conformant Gateway picks: an Exact path (none exported), the longest prefix,
    a method match over none, then route name (same creation time), then rule order. Where a
    RegularExpression ranks is the implementation's choice: first or last, as asked."""
    best, best_key = None, None
    for doc in documents:
        for order, rule in enumerate(doc["spec"]["rules"]):
            for match in rule["matches"]:
                if "method" in match and match["method"] != method:
                    continue
                if not _path_matches(match, path):
                    continue
                is_regex = match["path"]["type"] == "RegularExpression"
                rank = (1 if regex_first else -1) if is_regex else 0
                key = (
                    -rank,
                    -len(match["path"]["value"].rstrip("/")),
                    0 if "method" in match else 1,
                    doc["metadata"]["name"],
                    order,
                )
                if best_key is None or key < best_key:
                    best, best_key = rule, key
    return best


def outcome_of_rule(rule: dict | None):
    assert rule is not None, "no rule matched: the default went missing"
    refs = frozenset((r["name"], r.get("weight")) for r in rule["backendRefs"])
    mirrors = [
        f["requestMirror"]["backendRef"]["name"]
        for f in rule.get("filters", [])
        if f["type"] == "RequestMirror"
    ]
    return refs, (mirrors[0] if mirrors else None)


def expected_outcome(table: RouteTable, method: str, path: str):
    """Where the Python proxy sends the request (resolve.py), in the Gateway's terms."""
    decision = resolve(table, method=method, path=path)
    route = decision.route

    def service(name: str) -> str:
        return gateway.backend_for(table.upstreams[name], gateway.GatewayOptions()).service

    if route is not None and route.mode == "canary":
        part = gateway.canary_hundredths(route.percent)
        primary, candidate = table.default_upstream, route.upstream or table.default_upstream
        if 0 < part < gateway.WEIGHT_TOTAL:
            refs = frozenset(
                {(service(primary), gateway.WEIGHT_TOTAL - part), (service(candidate), part)}
            )
            return refs, None
        return frozenset({(service(candidate if part else primary), None)}), None
    mirror = COMPARATOR.service if decision.shadow_to else None
    return frozenset({(service(decision.target), None)}), mirror


def corpus(table: RouteTable) -> list[tuple[str, str]]:
    """Requests at and around every route (not where segment and character prefixes part:
    see the README's list of what the Gateway API does differently)."""
    paths = {"/", "/elsewhere/", "/api/", "/api/v2/x/"}
    for route in table.routes:
        if route.regex is not None:
            sample = re.sub(r"\(\?P<[^>]+>[^)]*\)", "abc-1", route.regex.pattern)
            paths |= {sample, sample + "more/"}
        elif (route.prefix or "/").endswith("/"):
            paths |= {route.prefix, route.prefix + "x/", route.prefix + "abc-1/inventory/"}
        else:
            paths |= {route.prefix, route.prefix + "/sub"}
    return [(m, p) for p in sorted(paths) for m in gateway.METHODS]


def _random_state(seed: int) -> RouteTable:
    rng = random.Random(seed)
    data = yaml.safe_load(PACKAGED)
    for route in data["routes"]:
        if route.get("upstream"):
            modes = [m for m in MODES if m != "shadow"] if route.get("sensitive") else MODES
            route["mode"] = rng.choice(modes)
            if route["mode"] == "canary":
                route["percent"] = rng.choice([0, 5, 37.5, 100])
    return parse_table(yaml.safe_dump(data), environ={})


def _exported(table: RouteTable) -> tuple[list[dict], gateway.Export]:
    text, result = gateway.render(table, gateway.GatewayOptions(comparator=COMPARATOR))
    return [d for d in yaml.safe_load_all(text) if d], result


def _disagreements(table: RouteTable, documents: list[dict], *, regex_first: bool) -> list:
    return [
        (method, path)
        for method, path in corpus(table)
        if outcome_of_rule(gateway_pick(documents, method, path, regex_first=regex_first))
        != expected_outcome(table, method, path)
    ]


# --- tests ------------------------------------------------------------------------------------


def test_the_packaged_table_exports_to_the_same_decisions_on_any_conformant_gateway():
    table = parse_table(PACKAGED, environ={})
    documents, result = _exported(table)

    assert result.conflicts == [] and result.dropped == []
    for regex_first in (True, False):
        assert _disagreements(table, documents, regex_first=regex_first) == []


@pytest.mark.parametrize("seed", range(40))
def test_every_flip_state_exports_faithfully_or_names_the_conflict(seed):
    # given: the packaged table with its routes in random modes (as flips leave it)
    table = _random_state(seed)
    # when
    documents, result = _exported(table)
    # then: without a conflict, every request goes where the table sends it on any Gateway;
    # a named conflict is real (some Gateway would send a request elsewhere)
    wrong = [_disagreements(table, documents, regex_first=first) for first in (True, False)]
    if result.conflicts:
        assert any(wrong), result.conflicts
    else:
        assert wrong == [[], []]


def test_a_later_route_loses_the_methods_an_earlier_broader_route_takes():
    table = parse_table(
        """
version: 1
default_upstream: monolith
upstreams:
  monolith: {instances: ["http://127.0.0.1:8001"]}
  catalog: {instances: ["http://catalog.shop.svc:8002"]}
routes:
  - {name: api-reads, prefix: /api/, methods: [GET], mode: monolith}
  - {name: products, prefix: /api/v1/products/, mode: extracted, upstream: catalog}
  - {name: products-get, prefix: /api/v1/products/, methods: [GET], mode: extracted, upstream: catalog}
  - {name: same, prefix: /api/v1/products/, methods: [POST], mode: monolith, upstream: catalog}
""",
        environ={},
    )
    documents, result = _exported(table)

    by_route = {d["metadata"]["labels"]["strangler/route"]: d for d in documents}
    products = by_route["products"]["spec"]["rules"][0]
    assert {m["method"] for m in products["matches"]} == set(gateway.METHODS) - {"GET", "HEAD"}
    assert products["backendRefs"] == [{"name": "catalog", "port": 8002}]
    assert set(by_route) == {"api-reads", "products", "default"}
    assert [line.split(":")[0] for line in result.dropped] == ["products-get", "same"]
    for regex_first in (True, False):
        assert _disagreements(table, documents, regex_first=regex_first) == []


def test_shadow_reads_are_mirrored_to_the_comparator_and_writes_never():
    data = yaml.safe_load(PACKAGED)
    for route in data["routes"]:
        if route["name"] in ("catalog-products-read", "users"):
            route["mode"] = "shadow"
    table = parse_table(yaml.safe_dump(data), environ={})
    documents, _ = _exported(table)

    by_route = {d["metadata"]["labels"]["strangler/route"]: d for d in documents}
    reads = by_route["catalog-products-read"]["spec"]["rules"]
    assert len(reads) == 1 and outcome_of_rule(reads[0])[1] == "proxy"
    # a route on every method: its reads in a mirrored rule, the rest in one that is not
    users = by_route["users"]["spec"]["rules"]
    assert [outcome_of_rule(r)[1] for r in users] == ["proxy", None]
    assert {m["method"] for m in users[0]["matches"]} == set(gateway.READS)
    assert [m.get("method") for m in users[1]["matches"]] == [None]
    for method, mirrored in (("GET", "proxy"), ("OPTIONS", "proxy"), ("POST", None)):
        rule = gateway_pick(documents, method, "/api/v1/users/7/", regex_first=True)
        assert outcome_of_rule(rule)[1] == mirrored


def test_every_exported_state_is_valid_for_the_gateway_apis_schemas():
    documents = []
    for seed in range(12):
        documents += _exported(_random_state(seed))[0]
    assert gateway_api.problems(documents) == []


def test_the_schemas_refuse_a_broken_route():
    # the check can fail: a method outside the enum and a weight below 0 are refused
    documents, _ = _exported(parse_table(PACKAGED, environ={}))
    broken = documents[0]
    broken["spec"]["rules"][0]["matches"][0]["method"] = "FETCH"
    broken["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    found = gateway_api.problems([broken])
    assert any("method" in p for p in found) and any("weight" in p for p in found)


def _cli(*args: str, routes: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "strangler_proxy", "export", "gateway", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, input=routes)


def test_the_cli_writes_the_routes_and_strict_refuses_a_conflict(tmp_path):
    data = yaml.safe_load(PACKAGED)
    for route in data["routes"]:
        if route["name"] == "catalog-products-write":
            route["mode"] = "extracted"  # chapter 05, while inventory stays with the monolith
    flipped = tmp_path / "routes.yaml"
    flipped.write_text(yaml.safe_dump(data))
    out = tmp_path / "httproutes.yaml"

    done = _cli("--routes", str(flipped), "--out", str(out), "--namespace", "shop")
    assert done.returncode == 0, done.stderr
    assert "inventory-write comes before catalog-products-write" in done.stderr
    assert "# CONFLICT: inventory-write" in out.read_text()
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(out.read_text()) if d} == {
        "shop"
    }

    refused = _cli("--routes", str(flipped), "--strict")
    assert refused.returncode == 2 and "refused (--strict)" in refused.stderr

    packaged = _cli("--routes", "strangler_proxy/routes.yaml", "--strict")
    assert packaged.returncode == 0, packaged.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "catalog=nope"], "expected SERVICE:PORT"),
        (["--comparator", "proxy"], "expected SERVICE:PORT"),
        (["--routes", "/nonexistent/routes.yaml"], "error:"),
    ],
)
def test_the_cli_names_what_is_wrong(args, message):
    done = _cli(
        *(args if "--routes" in args else ["--routes", "strangler_proxy/routes.yaml", *args])
    )
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_backends_follow_the_instances_unless_given():
    table = parse_table(PACKAGED, environ={"STRANGLER_CATALOG_URL": "http://catalog-v2.shop:9000"})
    options = gateway.GatewayOptions(backends={"orders": gateway.Backend("orders-blue", 80)})
    found = {n: gateway.backend_for(u, options) for n, u in table.upstreams.items()}
    assert found["catalog"] == gateway.Backend("catalog-v2", 9000)
    assert found["monolith"] == gateway.Backend("monolith", 8001)  # an address: the upstream's name
    assert found["orders"] == gateway.Backend("orders-blue", 80)
