"""k8s/examples/mtls: the fleet's own mTLS switch (docs/mtls.md) in a cluster with no mesh.

`STRANGLER_MTLS` turns on in the shared ConfigMap, so the image's entry point runs each process
as `make run` runs it under the switch (deploy/container/entrypoint.py); each pod mounts only its
service's Secret (`strangler-tls-<service>`: `ca.crt` and `<service>.pem`, never the CA key) at
`STRANGLER_TLS_DIR`; and the HTTP probes become exec probes, because a kubelet's httpGet probe
cannot present a client certificate: `deploy/container/healthcheck.py` calls the process over
HTTPS with the pod's own certificate. The proxy's public port stays plain (the Ingress reaches
it), so its probes are left as they are.
"""

from __future__ import annotations

from deploy.generate.fleet import TLS_DIR
from servicekit.web.tls.fleet import EDGE as PUBLIC  # the proxy: its port stays plain
from servicekit.web.tls.fleet import owner_of

SECRET_PREFIX = "strangler-tls-"
HEALTHCHECK = ["python", "/app/deploy/container/healthcheck.py"]
SECRET_MODE = 0o440  # group-readable: fsGroup gives the files to the image's group


def header() -> str:
    return (
        "mTLS inside without a mesh (docs/mtls.md): `kubectl apply -k k8s/examples/mtls`, on the\n"
        "prod overlay. Make the CA and the certificates with the project's script, then one\n"
        "Secret per service holding only its own certificate and the CA's:\n"
        "  python -m servicekit.web.tls.ca init && python -m servicekit.web.tls.ca issue "
        "<service>...\n"
        "  kubectl -n strangler create secret generic strangler-tls-<service> \\\n"
        "    --from-file=ca.crt=var/tls/ca.crt --from-file=<service>.pem=var/tls/<service>.pem\n"
        "Probes become exec probes (a kubelet cannot present a client certificate). With a\n"
        "service mesh, do not apply this: leave STRANGLER_MTLS off and let the mesh do it."
    )


def _probe(kind: str, probe: dict) -> dict:
    """The same timings, run as the image's health check (over HTTPS with the pod's own
    certificate) instead of a kubelet HTTP request."""
    timing = {k: v for k, v in probe.items() if k != "httpGet"}
    command = [*HEALTHCHECK, "ready"] if kind == "readinessProbe" else [*HEALTHCHECK]
    return {**timing, "httpGet": None, "exec": {"command": command}}


def deployment_patch(deployment: dict) -> dict:
    """A strategic-merge patch: the service's Secret mounted, fsGroup, exec probes."""
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    name = container["name"]
    owner = owner_of(name)
    patched: dict = {
        "name": name,
        "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}],
    }
    if name != PUBLIC:
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "httpGet" in container.get(kind, {}):
                patched[kind] = _probe(kind, container[kind])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment["metadata"]["name"]},
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"fsGroup": spec["securityContext"]["runAsGroup"]},
                    "volumes": [
                        {
                            "name": "tls",
                            "secret": {
                                "secretName": f"{SECRET_PREFIX}{owner}",
                                "defaultMode": SECRET_MODE,
                            },
                        }
                    ],
                    "containers": [patched],
                }
            }
        },
    }


PATCHES = "deployments.yaml"


def kustomization() -> dict:
    switch_on = "- op: replace\n  path: /data/STRANGLER_MTLS\n  value: 'on'"
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../../overlays/prod"],
        "patches": [
            {"target": {"kind": "ConfigMap", "name": "strangler-config"}, "patch": switch_on},
            {"path": PATCHES},
        ],
    }


def patches(deployments: list[dict]) -> list[dict]:
    """PATCHES: one strategic-merge patch per Deployment."""
    return [deployment_patch(d) for d in deployments]
