"""k8s/examples/polyglot: the catalog's product reads in another language beside the fleet. The
rendered example runs an implementation polyglot/ builds, configured with the variables every
implementation reads, admitted from the proxy, and the proxy's mounted table sends exactly the
reads they serve there (schemas: tests/infra/test_k8s.py, which renders every example)."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy.generate.k8s_polyglot import NAME, ROUTES, implementations
from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.resolve import resolve
from tests.infra import fleet
from tests.infra.test_k8s import main_container, of_kind, render, selects

EXAMPLE = fleet.ROOT / "k8s" / "examples" / "polyglot"
READ_VARIABLE = re.compile(r"\bCATALOG_READS_[A-Z_]+\b")
REQUIRED = {"CATALOG_READS_DATABASE_URL", "CATALOG_READS_BROKER_URL", "CATALOG_READS_JWKS_URL"}


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return render(EXAMPLE)


def read_by_every_implementation() -> set[str]:
    found = set()
    for name in implementations():
        for source in (fleet.ROOT / "polyglot" / name).rglob("*"):
            if source.is_file() and source.suffix in {".go", ".ts", ".java", ".kt"}:
                found |= set(READ_VARIABLE.findall(source.read_text()))
    return found


def test_every_implementation_with_a_dockerfile_is_offered(docs):
    assert {"go", "typescript"} <= set(implementations())
    header = (EXAMPLE / "kustomization.yaml").read_text()
    for name in implementations():
        assert f"catalog-reads-{name}" in header
    image = main_container(of_kind(docs, "Deployment")[NAME])["image"]
    assert re.fullmatch(
        rf"ghcr\.io/strangler/catalog-reads-({'|'.join(implementations())}):.+", image
    )


def test_the_reads_get_the_variables_the_implementations_read_secrets_from_the_secret(docs):
    container = main_container(of_kind(docs, "Deployment")[NAME])
    env = {item["name"]: item for item in container["env"]}
    assert REQUIRED <= set(env) <= read_by_every_implementation()
    for name in ("CATALOG_READS_DATABASE_URL", "CATALOG_READS_BROKER_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "strangler-secrets"
    catalog_env = {
        e["name"]: e for e in main_container(of_kind(docs, "Deployment")["catalog"])["env"]
    }
    assert env["CATALOG_READS_JWKS_URL"]["value"] == catalog_env["JWKS_URL"]["value"]
    port = int(env["CATALOG_READS_PORT"]["value"])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = of_kind(docs, "Service")[NAME]
    assert service["spec"]["ports"][0]["port"] == port


def test_only_the_proxy_is_admitted_to_the_reads(docs):
    labels = of_kind(docs, "Deployment")[NAME]["spec"]["template"]["metadata"]["labels"]
    admitting = [
        p
        for p in of_kind(docs, "NetworkPolicy").values()
        if selects(p["spec"]["podSelector"], labels) and "Ingress" in p["spec"]["policyTypes"]
    ]
    sources = [s for p in admitting for rule in p["spec"].get("ingress", []) for s in rule["from"]]
    pods = [s["podSelector"]["matchLabels"] for s in sources if "podSelector" in s]
    assert pods == [{"strangler.io/role": "proxy"}]  # the rest are the monitoring namespace
    assert all("namespaceSelector" in s for s in sources if "podSelector" not in s)


def test_the_proxy_reads_the_mounted_table(docs):
    proxy = main_container(of_kind(docs, "Deployment")["proxy"])
    routes_file = next(e["value"] for e in proxy["env"] if e["name"] == "STRANGLER_ROUTES_FILE")
    mount = next(m for m in proxy["volumeMounts"] if routes_file.startswith(m["mountPath"] + "/"))
    volumes = of_kind(docs, "Deployment")["proxy"]["spec"]["template"]["spec"]["volumes"]
    config_map = next(v for v in volumes if v["name"] == mount["name"])["configMap"]["name"]
    mounted = of_kind(docs, "ConfigMap")[config_map]["data"][routes_file.rsplit("/", 1)[1]]
    assert mounted == (EXAMPLE / "routes.yaml").read_text()


@pytest.mark.parametrize(
    ("method", "path", "to_reads"),
    [
        ("GET", "/api/v1/products/", True),
        ("HEAD", "/api/v1/products/", True),
        ("GET", "/api/v1/products/SKU-1/", True),
        ("POST", "/api/v1/products/", False),
        ("PATCH", "/api/v1/products/SKU-1/", False),
        ("GET", "/api/v1/products/SKU-1/inventory/", False),
        ("GET", "/api/v1/categories/", False),
    ],
)
def test_the_table_sends_exactly_the_served_reads_to_them_once_extracted(method, path, to_reads):
    text = (EXAMPLE / "routes.yaml").read_text()
    extracted = yaml.safe_load(text)
    for route in extracted["routes"]:
        if route["name"] in ROUTES:
            route["mode"] = "extracted"
    table = parse_table(yaml.safe_dump(extracted), source="routes.yaml", environ={})
    decision = resolve(table, method=method, path=path)
    assert (decision.target == NAME) == to_reads, decision.route and decision.route.name
    # as generated, every one of them still goes where the packaged table sends it
    packaged = parse_table(text, source="routes.yaml", environ={})
    assert resolve(packaged, method=method, path=path).target != NAME
