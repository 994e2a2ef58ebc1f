"""The Kubernetes manifests run what the compose fleet ran: same image, same command per
process, the same environment variables but for the differences documented below.

The manifests are rendered with the kubectl the infra checks use (kustomize v5): Debian's
kubernetes-client (1.20, kustomize v2) cannot read generator `options` or targeted `patches`.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from deploy.podman import engine
from tests.infra.fleet import ROOT

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

# Variables podman itself puts in every container.
ENGINE_ENV = {"container", "HOSTNAME", "HOME", "TERM"}
# Where the two deployments differ on purpose (docs/running-at-scale.md).
ONLY_IN_COMPOSE = {
    # The token issuers share a key ring on a compose volume; in Kubernetes each pod starts
    # its ring from the one Secret key (JWT_PRIVATE_KEY).
    "JWT_KEYS_DIR": "issuers' shared key-ring volume",
    # The browser origin of the published proxy port on a laptop; a cluster serves the
    # storefront through its Ingress host instead.
    "DJANGO_CSRF_TRUSTED_ORIGINS": "laptop origin http://localhost:8000",
    # One host: compose keeps ownership in a file on a shared volume; a cluster's replicas
    # follow the shared control store instead (STRANGLER_CONTROL_STORE).
    "OWNERSHIP_FILE": "compose's shared ownership volume",
    # Compose's edge is nginx fed the route table (deploy/container/edge.py), whose access log
    # the proxy's lifecycle gates read; a cluster's edge is its Ingress or Gateway
    # (k8s/examples/gateway-api), which writes no such file.
    "STRANGLER_NGINX_ACCESS_LOG": "the compose edge's nginx access log",
    # The proxy's data folder (its route table, and nginx's files) on the volume the edge
    # shares; a cluster's proxy keeps its table in the control store.
    "STRANGLER_DATA_DIR": "the proxy-data volume compose's edge shares",
}
# Compose services with no Deployment (besides the demo data's seed: a cluster starts empty): the
# nginx edge (see STRANGLER_NGINX_ACCESS_LOG above) and the one-shot making the fleet's
# certificates (a cluster mounts them from Secrets: k8s/examples/mtls).
ONLY_IN_COMPOSE_SERVICES = {"edge", "certificates"}
ONLY_IN_K8S = {
    "JWT_PRIVATE_KEY": "the issuers' key from the Secret",
    # The route table and ownership live in the shared control store (Redis), which every
    # replica follows within a second; the image's packaged table only seeds it. Compose keeps
    # the files (one host), its routes table in the proxy's data folder, which the edge follows.
    "STRANGLER_CONTROL_STORE": "the deployment's Redis as the control store",
    "STRANGLER_ROUTES_FILE": "the image's packaged table, the store's seed",
    "CACHE_KEY_PREFIX": "the deployment's Redis key prefix (strangler-config)",
}


def image_name(image: str) -> str:
    """`localhost/strangler:local` and `strangler:local` name the same local image."""
    return image.removeprefix("localhost/")


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    """Container name (`<deployment>`, `<deployment>-migrate` for init containers) -> spec with
    its full environment names (env and the ConfigMaps of envFrom)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (kustomize v5) renders k8s/; see the module docstring"
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / "dev")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    found = {}
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        spec = doc["spec"]["template"]["spec"]
        for init in (True, False):
            for c in spec.get("initContainers" if init else "containers", []):
                names = {e["name"] for e in c.get("env", [])}
                for source in c.get("envFrom", []):
                    names |= set(maps[source["configMapRef"]["name"]])
                key = doc["metadata"]["name"] + (f"-{c['name']}" if init else "")
                found[key] = {"image": c["image"], "args": c.get("args"), "env": names}
    return found


def inspect(fleet, service: str) -> dict:
    out = engine.run(
        ["podman", "inspect", fleet.container(service)], capture_output=True, text=True
    ).stdout
    return json.loads(out)[0]


def env_names(pairs: list[str]) -> set[str]:
    return {pair.split("=", 1)[0] for pair in pairs}


def test_kubernetes_runs_the_image_commands_and_environment_compose_ran(fleet, rendered):
    image_env = env_names(
        json.loads(
            engine.run(
                ["podman", "image", "inspect", engine.APP_IMAGE], capture_output=True, text=True
            ).stdout
        )[0]["Config"]["Env"]
    )
    ran = {
        name: inspect(fleet, name)
        for name, service in fleet.compose["services"].items()
        if service.get("image") == engine.APP_IMAGE
    }
    compared = {
        name: c
        for name, c in ran.items()
        if not name.endswith("-seed") and name not in ONLY_IN_COMPOSE_SERVICES
    }
    assert set(compared) == set(rendered), set(compared) ^ set(rendered)
    problems = []
    for name, container in compared.items():
        k8s = rendered[name]
        if image_name(k8s["image"]) != image_name(container["ImageName"]):
            problems.append(
                f"{name}: k8s runs {k8s['image']}, compose ran {container['ImageName']}"
            )
        if k8s["args"] != container["Config"]["Cmd"]:
            problems.append(
                f"{name}: k8s args {k8s['args']}, compose ran {container['Config']['Cmd']}"
            )
        # The container ran with its compose entry's variables and the image's defaults.
        env = set(fleet.compose["services"][name]["environment"])
        ran_env = env_names(container["Config"]["Env"]) - ENGINE_ENV
        if ran_env != env | image_env:
            problems.append(
                f"{name}: ran with {sorted(ran_env ^ (env | image_env))} unlike compose"
            )
        for extra in sorted((env - k8s["env"]) - set(ONLY_IN_COMPOSE)):
            problems.append(f"{name}: {extra} set in compose, not in k8s")
        for extra in sorted((k8s["env"] - env) - set(ONLY_IN_K8S)):
            problems.append(f"{name}: {extra} set in k8s, not in compose")
    assert not problems, "\n".join(problems)
