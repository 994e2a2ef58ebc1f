"""k8s/examples/polyglot: the catalog's product reads served by one of the other languages'
implementations (polyglot/, issue 19) beside the fleet, the proxy's route table sending those
reads to it. Which language runs is the image the example's kustomization names."""

from __future__ import annotations

import copy

import yaml

from deploy.generate.fleet import ROOT
from deploy.generate.k8s import CONTAINER_SECURITY, POD_SECURITY, resources

NAME = "catalog-reads"
PORT = 8080
ROUTES_MOUNT = "/etc/strangler/routes"
# what every implementation serves (polyglot/README.md): a page of products and one product
ROUTES = {
    "catalog-products-page-polyglot": "/api/v1/products/",
    "catalog-product-polyglot": "/api/v1/products/<str:sku>/",
}


def implementations() -> list[str]:
    """The languages with a Dockerfile in polyglot/ (each builds `catalog-reads-<language>`)."""
    return sorted(p.parent.name for p in (ROOT / "polyglot").glob("*/Dockerfile"))


def routes_table() -> dict:
    """The packaged route table with the product reads' own routes, first, on `catalog-reads`:
    they start on the monolith like every route, for the reader to move them as chapter 04
    moves the catalog's reads (shadow, canary, extracted), with the monolith as fallback."""
    table = yaml.safe_load((ROOT / "strangler_proxy" / "routes.yaml").read_text())
    catalog = table["upstreams"]["catalog"]
    table["upstreams"][NAME] = {
        **copy.deepcopy(catalog),
        "instances": [f"http://{NAME}:{PORT}"],
    }
    table["routes"][:0] = [
        {
            "name": name,
            "pattern": pattern,
            "methods": ["GET", "HEAD"],
            "mode": "monolith",
            "upstream": NAME,
            "fallback": "monolith",
            "shadow": {"ignore_fields": ["created_at", "updated_at"]},
        }
        for name, pattern in ROUTES.items()
    ]
    return table


def _secret(key: str) -> dict:
    return {"secretKeyRef": {"name": "strangler-secrets", "key": key}}


def _probe(path: str, **timing) -> dict:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def documents(catalog: dict) -> list[dict]:
    """The reads' Deployment and Service; `catalog` is k8s/base's catalog Deployment, whose
    JWKS the reads verify tokens against too."""
    catalog_env = catalog["spec"]["template"]["spec"]["containers"][0]["env"]
    jwks = catalog_env[_env_index(catalog, "JWKS_URL")]["value"]
    labels = {
        "app.kubernetes.io/name": NAME,
        "strangler.io/service": NAME,
        # admitted from the proxy and scraped like every service (k8s/base/network-policies.yaml)
        "strangler.io/role": "web",
    }
    container = {
        "name": NAME,
        "image": NAME,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {"name": "CATALOG_READS_HOST", "value": "0.0.0.0"},  # noqa: S104 - in a pod
            {"name": "CATALOG_READS_PORT", "value": str(PORT)},
            {"name": "CATALOG_READS_DATABASE_URL", "valueFrom": _secret(f"{NAME}-database-url")},
            {"name": "CATALOG_READS_BROKER_URL", "valueFrom": _secret("celery-broker-url")},
            {"name": "CATALOG_READS_JWKS_URL", "value": jwks},
        ],
        "resources": resources("web"),
        "securityContext": CONTAINER_SECURITY,
        "livenessProbe": _probe("/healthz", periodSeconds=10, timeoutSeconds=3),
        "readinessProbe": _probe("/readyz", periodSeconds=5, timeoutSeconds=3),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            # one consumer of its queue: events are applied in order per product by one reader
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/name": NAME}},
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def kustomization(proxy: dict) -> dict:
    """The example's kustomization; `proxy` is k8s/base's proxy Deployment."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "strangler",  # beside the proxy, which reaches it as `catalog-reads`
        "resources": ["../../overlays/prod", "catalog-reads.yaml"],
        "configMapGenerator": [{"name": "strangler-routes-polyglot", "files": ["routes.yaml"]}],
        "images": [
            {
                "name": NAME,
                "newName": f"ghcr.io/strangler/{NAME}-{implementations()[0]}",
                "newTag": "0.1.0",
            }
        ],
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "proxy"},
                "patch": yaml.safe_dump(
                    [
                        {
                            "op": "add",
                            "path": "/spec/template/spec/volumes/-",
                            "value": {
                                "name": "routes-polyglot",
                                "configMap": {"name": "strangler-routes-polyglot"},
                            },
                        },
                        {
                            "op": "add",
                            "path": "/spec/template/spec/containers/0/volumeMounts/-",
                            "value": {"name": "routes-polyglot", "mountPath": ROUTES_MOUNT},
                        },
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/env/"
                            f"{_env_index(proxy, 'STRANGLER_ROUTES_FILE')}/value",
                            "value": f"{ROUTES_MOUNT}/routes.yaml",
                        },
                    ],
                    sort_keys=False,
                ),
            }
        ],
    }


def _env_index(deployment: dict, name: str) -> int:
    """Where `name` is in a container's env (a JSON patch addresses it by index)."""
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return next(i for i, item in enumerate(env) if item["name"] == name)


def header() -> str:
    choices = ", ".join(f"catalog-reads-{name}" for name in implementations())
    routes = " and ".join(ROUTES)
    return f"""\
The catalog's product reads served by another language (polyglot/): `kubectl apply -k
k8s/examples/polyglot`, on the prod overlay. The language is the image named below, one of
{choices}; build it with
`docker build -t ghcr.io/strangler/catalog-reads-<language>:0.1.0 polyglot/<language>`.
The Secret `strangler-secrets` needs one more key, `catalog-reads-database-url` (the reads'
own PostgreSQL database). The proxy reads the route table mounted here (routes.yaml), whose
routes {routes}
start on the monolith: move them as chapter 04 moves the catalog's reads (shadow, canary,
extracted). A shared control store already seeded keeps its table: make the
same change there with `routes set`."""
