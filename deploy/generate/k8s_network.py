"""k8s/base/network-policies.yaml: default deny, then who may reach whom."""

from __future__ import annotations

from deploy.generate.fleet import Service

BROKER_SELECTOR = {"app.kubernetes.io/name": "rabbitmq"}
# the control store every replica follows (ownership), and the caches
REDIS_SELECTOR = {"app.kubernetes.io/name": "redis"}


def network_policies(services: dict[str, Service]) -> list[dict]:
    def policy(name: str, selector: dict, types: list[str], **rules) -> dict:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": selector, "policyTypes": types, **rules},
        }

    def pods(labels: dict) -> dict:
        return {"podSelector": {"matchLabels": labels}}

    def namespace(name: str, **extra) -> dict:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}},
            **extra,
        }

    http = [{"port": "http"}]
    docs = [
        policy("default-deny-ingress", {}, ["Ingress"]),
        policy(
            "proxy-from-ingress",
            {"matchLabels": {"strangler.io/role": "proxy"}},
            ["Ingress"],
            ingress=[{"from": [namespace("ingress-nginx")], "ports": http}],
        ),
        policy(
            "services-from-proxy",
            {"matchLabels": {"strangler.io/role": "web"}},
            ["Ingress"],
            ingress=[{"from": [pods({"strangler.io/role": "proxy"})], "ports": http}],
        ),
        policy(
            "metrics-from-prometheus",
            {
                "matchExpressions": [
                    {"key": "strangler.io/role", "operator": "In", "values": ["proxy", "web"]}
                ]
            },
            ["Ingress"],
            ingress=[{"from": [namespace("monitoring")], "ports": http}],
        ),
    ]
    extracted = [s for s in services.values() if s.extracted]
    if extracted:
        # Extracted services verify tokens with the monolith's JWKS (JWKS_URL).
        docs.append(
            policy(
                "monolith-jwks-from-services",
                {"matchLabels": {"strangler.io/service": "monolith", "strangler.io/role": "web"}},
                ["Ingress"],
                ingress=[
                    {
                        "from": [pods({"strangler.io/service": s.name}) for s in extracted],
                        "ports": http,
                    }
                ],
            )
        )
    for service in services.values():
        if not service.has_database:
            continue
        docs.append(
            policy(
                f"{service.name}-database",
                {"matchLabels": {"strangler.io/database-of": service.name}},
                ["Ingress"],
                ingress=[
                    {
                        "from": [pods({"strangler.io/service": service.name})],
                        "ports": [{"port": 5432}],
                    }
                ],
            )
        )
    monolith_web = services["monolith"].web
    for service in extracted:
        egress = [
            {"to": [pods({"strangler.io/database-of": service.name})], "ports": [{"port": 5432}]},
            {"to": [pods(BROKER_SELECTOR)], "ports": [{"port": 5672}]},
            {"to": [pods(REDIS_SELECTOR)], "ports": [{"port": 6379}]},
            {
                "to": [pods({"strangler.io/service": "monolith", "strangler.io/role": "web"})],
                "ports": [{"port": monolith_web.port}],
            },
            {
                "to": [
                    namespace("kube-system", podSelector={"matchLabels": {"k8s-app": "kube-dns"}})
                ],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            },
            {"to": [namespace("observability")], "ports": [{"port": 4318}]},
        ]
        docs.append(
            policy(
                f"{service.name}-egress",
                {"matchLabels": {"strangler.io/service": service.name}},
                ["Egress"],
                egress=egress,
            )
        )
    return docs
