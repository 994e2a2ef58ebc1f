"""k8s/base: a Deployment per Procfile process with its Service, autoscaler and disruption budget,
the shared config and the kustomization; the canary example derived from the proxy's Deployment."""

from __future__ import annotations

import copy

from deploy.generate.fleet import (
    ISSUERS,
    JWKS_PATH,
    TLS_DIR,
    Process,
    Service,
    upstream_vars,
    web_address,
)
from deploy.generate.k8s_network import network_policies
from servicekit.web.env import database_url_var
from servicekit.web.ports import path_of

# The image's packaged route table: only the seed of the shared control store's copy, read when
# a deployment's Redis has none yet (the live table and ownership live in the store).
ROUTES_SEED_K8S = "/app/strangler_proxy/routes.yaml"


def secret(key: str) -> dict:
    return {"valueFrom": {"secretKeyRef": {"name": "strangler-secrets", "key": key}}}


def k8s_env(service: Service, services: dict[str, Service]) -> list[dict]:
    env: dict[str, dict] = {
        "DJANGO_SETTINGS_MODULE": {"value": service.module},
        "DJANGO_SECRET_KEY": secret("django-secret-key"),
    }
    if service.name == "proxy" or service.has_database:
        # the route table and ownership: one versioned copy every replica follows within a
        # second (servicekit/web/control_store), not a ConfigMap swapped in a minute apart
        env["STRANGLER_CONTROL_STORE"] = secret("redis-url")
    if service.name == "proxy":
        env["STRANGLER_ROUTES_FILE"] = {"value": ROUTES_SEED_K8S}
        env |= {var: {"value": web_address(services, up)} for var, up in upstream_vars().items()}
        env["STRANGLER_ADMIN_TOKEN"] = secret("proxy-admin-token")
        env["REDIS_URL"] = secret("redis-url")
        # the route inventory walks the monolith's URLconf, which the image carries
        env["STRANGLER_MONOLITH_SETTINGS"] = {"value": services["monolith"].module}
    else:
        env[database_url_var(service.name)] = secret(f"{service.name}-database-url")
        env["CELERY_BROKER_URL"] = secret("celery-broker-url")
    if service.name == "monolith":
        env["REDIS_URL"] = secret("redis-url")
    if service.name in ISSUERS:
        # one signing key for both issuers: the users service starts its key ring from it
        env["JWT_PRIVATE_KEY"] = secret("jwt-private-key")
    if service.extracted:
        env["JWKS_URL"] = {"value": web_address(services, "monolith") + JWKS_PATH}
    return [{"name": name, **value} for name, value in env.items()]


RESOURCES = {
    "web": ({"cpu": "250m", "memory": "256Mi"}, {"cpu": "1", "memory": "512Mi"}),
    "proxy": ({"cpu": "250m", "memory": "128Mi"}, {"cpu": "1", "memory": "256Mi"}),
    "worker": ({"cpu": "100m", "memory": "192Mi"}, {"cpu": "500m", "memory": "384Mi"}),
    "migrate": ({"cpu": "100m", "memory": "192Mi"}, {"cpu": "1", "memory": "384Mi"}),
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def resources(kind: str) -> dict:
    requests, limits = RESOURCES[kind]
    return {"requests": dict(requests), "limits": dict(limits)}


def role_of(service: Service, process: Process) -> str:
    if service.name == "proxy":
        return "proxy"
    return "web" if process.kind == "web" else "worker"


def http_probe(process: Process, kind: str, **timing) -> dict:
    return {
        "httpGet": {
            "path": path_of(process.name, kind),
            "port": "http",
            "httpHeaders": [{"name": "Host", "value": "localhost"}],
        },
        **timing,
    }


def deployment(service: Service, process: Process, services: dict[str, Service]) -> dict:
    role = role_of(service, process)
    labels = {
        "app.kubernetes.io/name": process.name,
        "strangler.io/service": service.name,
        "strangler.io/role": role,
    }
    env = k8s_env(service, services)
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - an emptyDir
    volumes: list[dict] = [{"name": "tmp", "emptyDir": {}}]
    container: dict = {"name": process.name, "image": "strangler", "args": [process.name]}
    if process.port:
        container["ports"] = [{"name": "http", "containerPort": process.port}]
    container |= {
        "envFrom": [{"configMapRef": {"name": "strangler-config"}}],
        "env": env,
        "resources": resources(
            "proxy"
            if role == "proxy"
            else ("web" if process.kind in ("web", "celery") else "worker")
        ),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": mounts,
    }
    if process.port:
        container["livenessProbe"] = http_probe(
            process, "health", periodSeconds=10, timeoutSeconds=3, failureThreshold=3
        )
        container["readinessProbe"] = http_probe(
            process, "ready", periodSeconds=5, timeoutSeconds=3, failureThreshold=2
        )
        container["startupProbe"] = http_probe(
            process, "health", periodSeconds=2, failureThreshold=30
        )
    else:
        # No HTTP port: alive while its process runs (the image's healthcheck).
        container["livenessProbe"] = {
            "exec": {"command": ["python", "/app/deploy/container/healthcheck.py"]},
            "periodSeconds": 30,
            "timeoutSeconds": 5,
        }
    pod: dict = {"automountServiceAccountToken": False}
    if process.kind != "web":
        # A worker finishes what it holds on SIGTERM (Celery acks late, the inbox commits a
        # batch before acking, the relay releases its claims); give it time.
        pod["terminationGracePeriodSeconds"] = 120
    pod["securityContext"] = POD_SECURITY
    if process.kind == "web" and service.has_database:
        # Migrations are written to run while the previous release still serves (expand
        # first, contract in a later release), so running them before new pods start is safe.
        pod["initContainers"] = [
            {
                "name": "migrate",
                "image": "strangler",
                "args": ["manage", "migrate", "--noinput"],
                "envFrom": container["envFrom"],
                "env": env,
                "resources": resources("migrate"),
                "securityContext": CONTAINER_SECURITY,
                "volumeMounts": mounts,
            }
        ]
    pod["containers"] = [container]
    pod["volumes"] = volumes
    template: dict = {"metadata": {"labels": labels}}
    if process.port:
        template["metadata"]["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(process.port),
            "prometheus.io/path": path_of(process.name, "metrics"),
        }
    template["spec"] = pod
    spec: dict = {
        "replicas": replicas(process),
        "selector": {"matchLabels": {"app.kubernetes.io/name": process.name}},
    }
    if process.port:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
    spec["template"] = template
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": process.name, "labels": labels},
        "spec": spec,
    }


def replicas(process: Process) -> int:
    # Relays: two for availability, never autoscaled. Several are safe on PostgreSQL (claims
    # are FOR UPDATE SKIP LOCKED plus a lease, per-aggregate order kept; tests/events races
    # two), but they add no throughput worth an autoscaler.
    return 2 if process.kind in ("web", "relay") else 1


def web_extras(process: Process) -> list[dict]:
    name = process.name
    minimum = 2
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": process.port, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": minimum,
                "maxReplicas": 20 if name == "proxy" else 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
        pdb(name, {"minAvailable": 1}),
    ]


def pdb(name: str, budget: dict) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {**budget, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
    }


def scaled_object(process: Process) -> dict:
    # Queue-length autoscaling (KEDA). Consumers stay correct when several share a queue (the
    # inbox parks out-of-order events per aggregate), but each extra one parks more: capped.
    maximum = 10 if process.kind == "celery" else 4
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": process.name},
        "spec": {
            "scaleTargetRef": {"name": process.name},
            "minReplicaCount": 1,
            "maxReplicaCount": maximum,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "protocol": "amqp",
                        "queueName": queue,
                        "mode": "QueueLength",
                        "value": "20",
                    },
                    "authenticationRef": {"name": "rabbitmq-auth"},
                }
                for queue in process.queues
            ],
        },
    }


def service_documents(service: Service, services: dict[str, Service]) -> list[dict]:
    docs = []
    for process in service.processes:
        docs.append(deployment(service, process, services))
        if process.kind == "web":
            docs += web_extras(process)
        elif process.kind in ("celery", "consumer"):
            docs += [scaled_object(process), pdb(process.name, {"maxUnavailable": 1})]
        else:
            docs.append(pdb(process.name, {"maxUnavailable": 1}))
    return docs


def k8s_base(services: dict[str, Service]) -> dict[str, str | list[dict] | dict]:
    """File name under k8s/base -> its content (documents, or a text file)."""
    hosts = ["localhost", *[p.name for s in services.values() for p in s.processes if p.port]]
    files: dict[str, str | list[dict] | dict] = {
        "config.yaml": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "strangler-config"},
                "data": {
                    "DJANGO_ENV": "production",
                    "DJANGO_ALLOWED_HOSTS": ",".join([*hosts, ".svc.cluster.local"]),
                    "LOG_JSON": "true",
                    "LOG_LEVEL": "INFO",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
                    # starts every Redis key of this deployment: one per fleet sharing a Redis
                    "CACHE_KEY_PREFIX": "strangler",
                    # mTLS inside (docs/mtls.md): off; k8s/examples/mtls turns it on
                    "STRANGLER_MTLS": "off",
                    "STRANGLER_TLS_DIR": TLS_DIR,
                },
            },
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "TriggerAuthentication",
                "metadata": {"name": "rabbitmq-auth"},
                "spec": {
                    "secretTargetRef": [
                        {
                            "parameter": "host",
                            "name": "strangler-secrets",
                            "key": "celery-broker-url",
                        }
                    ]
                },
            },
        ],
        "network-policies.yaml": network_policies(services),
    }
    for service in services.values():
        if service.processes:
            files[f"{service.name}.yaml"] = service_documents(service, services)
    files["kustomization.yaml"] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "labels": [
            {"pairs": {"app.kubernetes.io/part-of": "strangler"}, "includeSelectors": False}
        ],
        "resources": [name for name in files if name != "kustomization.yaml"] + ["ingress.yaml"],
        "images": [
            {"name": "strangler", "newName": "ghcr.io/strangler/strangler", "newTag": "latest"}
        ],
    }
    return files


def canary(stable: dict) -> dict:
    """The stable proxy Deployment as `proxy-canary`: same env, mounts and probes."""
    doc = copy.deepcopy(stable)
    track = {"strangler.io/track": "canary"}
    doc["metadata"] = {
        "name": "proxy-canary",
        "namespace": "strangler",
        "labels": {**doc["metadata"]["labels"], **track},
    }
    doc["spec"]["replicas"] = 1
    doc["spec"]["selector"]["matchLabels"] |= track
    doc["spec"]["template"]["metadata"]["labels"] |= track
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "ghcr.io/strangler/strangler:0.2.0-rc1"
    )
    return doc
