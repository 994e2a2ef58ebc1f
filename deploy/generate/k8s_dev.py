"""k8s/overlays/dev: a PostgreSQL per service and the throwaway Secret values of a developer cluster."""

from __future__ import annotations

from deploy.generate.fleet import Service
from deploy.generate.k8s import secret


def dev_databases(services: dict[str, Service]) -> list[dict]:
    docs = []
    for service in services.values():
        if not service.has_database:
            continue
        name, db = service.name, f"{service.name}-db"
        labels = {"app.kubernetes.io/name": db, "strangler.io/database-of": name}
        ready = {"exec": {"command": ["pg_isready", "-U", name]}}
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": db, "labels": labels},
                "spec": {
                    "serviceName": db,
                    "replicas": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": db}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "postgres",
                                    "image": "postgres:16-bookworm",
                                    "ports": [{"name": "postgres", "containerPort": 5432}],
                                    "env": [
                                        {"name": "POSTGRES_USER", "value": name},
                                        {"name": "POSTGRES_DB", "value": name},
                                        {
                                            "name": "POSTGRES_PASSWORD",
                                            **secret(f"{name}-db-password"),
                                        },
                                        {
                                            "name": "PGDATA",
                                            "value": "/var/lib/postgresql/data/pgdata",
                                        },
                                    ],
                                    "readinessProbe": {**ready, "periodSeconds": 5},
                                    "livenessProbe": {**ready, "periodSeconds": 10},
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "256Mi"},
                                        "limits": {"cpu": "1", "memory": "1Gi"},
                                    },
                                    "volumeMounts": [
                                        {"name": "data", "mountPath": "/var/lib/postgresql/data"}
                                    ],
                                }
                            ]
                        },
                    },
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "5Gi"}},
                            },
                        }
                    ],
                },
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": db, "labels": {"app.kubernetes.io/name": db}},
                "spec": {
                    "selector": {"app.kubernetes.io/name": db},
                    "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
                },
            }
        )
    return docs


def dev_secret_literals(services: dict[str, Service]) -> list[str]:
    literals = [
        "django-secret-key=dev-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "celery-broker-url=amqp://guest:guest@rabbitmq:5672//",
        "redis-url=redis://redis-master:6379/0",
        "jwt-private-key=",
        "proxy-admin-token=dev-admin-token",
    ]
    for service in services.values():
        if service.has_database:
            name = service.name
            literals.append(
                f"{name}-database-url=postgres://{name}:{name}-dev@{name}-db:5432/{name}"
            )
            literals.append(f"{name}-db-password={name}-dev")
    return literals
