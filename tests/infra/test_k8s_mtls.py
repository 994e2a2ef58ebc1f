"""k8s/examples/mtls: the switch on, each pod with its own service's certificate only, and no
kubelet HTTP probe left on a port that requires a client certificate (docs/mtls.md)."""

from __future__ import annotations

import pytest

from servicekit.web.tls.fleet import EDGE, owner_of
from tests.infra.fleet import ROOT
from tests.infra.test_k8s import render

HEALTHCHECK = ["python", "/app/deploy/container/healthcheck.py"]


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return render(ROOT / "k8s" / "examples" / "mtls")


def test_the_switch_is_on_and_the_certificates_are_where_the_processes_look(docs):
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "strangler-config"
    )
    assert config["data"]["STRANGLER_MTLS"] == "on"
    tls_dir = config["data"]["STRANGLER_TLS_DIR"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert deployments
    problems = []
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        name = container["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounted = [m for m in container["volumeMounts"] if m["mountPath"] == tls_dir]
        if len(mounted) != 1 or not mounted[0].get("readOnly"):
            problems.append(f"{name}: the certificates are not mounted read-only at {tls_dir}")
            continue
        secret = volumes[mounted[0]["name"]].get("secret", {})
        if secret.get("secretName") != f"strangler-tls-{owner_of(name)}":
            problems.append(f"{name}: mounts {secret.get('secretName')}, not its service's")
        if pod["securityContext"].get("fsGroup") != pod["securityContext"]["runAsGroup"]:
            problems.append(f"{name}: the Secret's files are not readable by the image's user")
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            if name == EDGE:  # the proxy's public port stays plain
                continue
            if "httpGet" in probe:
                problems.append(f"{name}: {kind} is a kubelet HTTP probe, which has no certificate")
            elif "exec" in probe and probe["exec"]["command"][:2] != HEALTHCHECK:
                problems.append(f"{name}: {kind} runs {probe['exec']['command']}")
    assert not problems
