"""k8s/: every overlay and example rendered with kustomize, validated against the Kubernetes
schemas, and checked against the code (Procfile, port map, settings, routes table)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from servicekit.web.ports import path_of
from tests.infra import fleet
from tests.support import gateway_api

ROOT = fleet.ROOT
K8S_VERSION = "1.30.0"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "keda.json").read_text())
TARGETS = sorted(p.parent for p in (ROOT / "k8s").glob("*/*/kustomization.yaml"))
OVERLAYS = [t for t in TARGETS if t.parent.name == "overlays"]
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE_KEY|DATABASE_URL|BROKER_URL")


def render(target: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/"
    result = subprocess.run([kubectl, "kustomize", str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS, ids=lambda p: p.name)
def docs(request) -> list[dict]:
    return render(request.param)


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def app_deployments(docs: list[dict]) -> dict[str, dict]:
    """Deployments running our image, by the Procfile process their container runs."""
    found = {}
    for deployment in of_kind(docs, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if "strangler" in container["image"].rsplit("/", 1)[-1]:
            found[container["args"][0]] = deployment
    return found


def main_container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        (labels.get(e["key"]) in e["values"]) == (e["operator"] == "In")
        for e in selector.get("matchExpressions", [])
    )


def test_there_are_dev_and_prod_overlays():
    assert {t.name for t in OVERLAYS} >= {"dev", "prod"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_rendered_manifest_matches_its_schema(target):
    problems = []
    docs = render(target)
    gateway_docs = [d for d in docs if d["apiVersion"].startswith("gateway.networking.k8s.io/")]
    if gateway_docs:
        problems += gateway_api.problems(gateway_docs)
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc in gateway_docs:
            continue
        if doc["apiVersion"].startswith("keda.sh/"):
            errors = [
                e.message for e in jsonschema.Draft202012Validator(KEDA_SCHEMA).iter_errors(doc)
            ]
            problems += [f"{name}: {e}" for e in errors]
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message} at {list(exc.path)}")
    assert not problems


def test_every_procfile_process_has_a_deployment_running_it(docs):
    deployments = app_deployments(docs)
    processes = fleet.procfile()
    assert not set(processes) - set(deployments), "Procfile processes without a Deployment"
    unknown = set(deployments) - fleet.known_processes()
    assert not unknown, f"Deployments running processes the Procfile does not define: {unknown}"
    for deployment in of_kind(docs, "Deployment").values():
        for init in deployment["spec"]["template"]["spec"].get("initContainers", []):
            assert init["args"][0] == "manage", init


def test_every_container_has_requests_and_limits(docs):
    missing = []
    for kind in ("Deployment", "StatefulSet"):
        for name, obj in of_kind(docs, kind).items():
            spec = obj["spec"]["template"]["spec"]
            for c in spec["containers"] + spec.get("initContainers", []):
                resources = c.get("resources", {})
                for part in ("requests", "limits"):
                    if not {"cpu", "memory"} <= set(resources.get(part, {})):
                        missing.append(f"{name}/{c['name']}: {part}")
    assert not missing


def test_http_processes_listen_on_the_port_map_with_probes_a_service_hpa_and_pdb(docs):
    deployments = app_deployments(docs)
    services, hpas, pdbs = (
        of_kind(docs, "Service"),
        of_kind(docs, "HorizontalPodAutoscaler"),
        of_kind(docs, "PodDisruptionBudget"),
    )
    problems = []
    for process, port in fleet.web_processes().items():
        deployment = deployments.get(process)
        if deployment is None:
            continue  # reported above
        container = main_container(deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if [p["containerPort"] for p in container.get("ports", [])] != [port]:
            problems.append(f"{process}: containerPort is not {port}")
        for probe, kind in (("livenessProbe", "health"), ("readinessProbe", "ready")):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            if path != path_of(process, kind):
                problems.append(
                    f"{process}: {probe} asks {path}, expected {path_of(process, kind)}"
                )
        service = [
            s for s in services.values() if selects({"matchLabels": s["spec"]["selector"]}, labels)
        ]
        if not service or service[0]["spec"]["ports"][0]["port"] != port:
            problems.append(f"{process}: no Service on port {port}")
        hpa = [
            h
            for h in hpas.values()
            if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        ]
        if not hpa or hpa[0]["spec"]["metrics"][0]["resource"]["name"] != "cpu":
            problems.append(f"{process}: no CPU HorizontalPodAutoscaler")
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs.values()):
            problems.append(f"{process}: no PodDisruptionBudget")
    assert not problems


def autoscalers_of(docs: list[dict], deployment: dict) -> list[dict]:
    return [
        a
        for kind in ("ScaledObject", "HorizontalPodAutoscaler")
        for a in of_kind(docs, kind).values()
        if a["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]


def test_workers_scale_on_their_queue_length_and_relays_do_not_autoscale(docs):
    deployments = app_deployments(docs)
    problems = []
    for process, command in fleet.procfile().items():
        if process not in deployments:
            continue
        queues = fleet.queues_of(command)
        if fleet.is_relay(command):
            # Several relays are safe on PostgreSQL (SKIP LOCKED claims with leases) but add no
            # throughput: a fixed count, for availability.
            if autoscalers_of(docs, deployments[process]):
                problems.append(f"{process}: a relay must not autoscale")
            if not 1 <= deployments[process]["spec"]["replicas"] <= 2:
                problems.append(f"{process}: relay replicas not in 1..2")
            continue
        if queues is None:
            continue
        target = [
            a for a in autoscalers_of(docs, deployments[process]) if a["kind"] == "ScaledObject"
        ]
        if not target:
            problems.append(f"{process}: no ScaledObject")
            continue
        watched = {t["metadata"].get("queueName") for t in target[0]["spec"]["triggers"]}
        if set(queues) != watched:
            problems.append(f"{process}: consumes {queues} but scales on {watched}")
    assert not problems


def test_every_service_with_a_database_migrates_before_its_web_pods_start(docs):
    problems = []
    for module in fleet.database_modules():
        migrated = []
        for process, deployment in app_deployments(docs).items():
            container = main_container(deployment)
            env = {e["name"]: e for e in container.get("env", [])}
            if env.get("DJANGO_SETTINGS_MODULE", {}).get("value") != module:
                continue
            for init in deployment["spec"]["template"]["spec"].get("initContainers", []):
                if init["args"][:2] == ["manage", "migrate"]:
                    migrated.append(process)
                    if init.get("env") != container.get("env"):
                        problems.append(f"{process}: migrate runs with other settings or database")
        if not migrated:
            problems.append(f"{module}: no Deployment migrates its database")
    assert not problems


def test_every_pod_reading_routes_or_ownership_follows_the_shared_control_store(docs):
    """The route table and ownership live in the deployment's Redis, which every replica
    follows within a second; a ConfigMap swapped in about a minute apart per pod, read-only
    to the lifecycle gates, is what this replaced."""
    modules = {*fleet.database_modules(), "strangler_proxy.settings"}
    problems = []
    for process, deployment in app_deployments(docs).items():
        container = main_container(deployment)
        env = {e["name"]: e for e in container.get("env", [])}
        module = env.get("DJANGO_SETTINGS_MODULE", {}).get("value")
        if module not in modules:
            continue
        store = env.get("STRANGLER_CONTROL_STORE", {}).get("valueFrom", {}).get("secretKeyRef")
        if store != {"name": "strangler-secrets", "key": "redis-url"}:
            problems.append(f"{process}: STRANGLER_CONTROL_STORE={store!r}")
        if "OWNERSHIP_FILE" in env:
            problems.append(f"{process}: still reads ownership from a file")
        pod = deployment["spec"]["template"]["spec"]
        if any("configMap" in v for v in pod["volumes"]):
            problems.append(f"{process}: mounts a ConfigMap")
    assert not problems
    config = of_kind(docs, "ConfigMap")["strangler-config"]["data"]
    assert config["CACHE_KEY_PREFIX"], "every Redis key of a deployment needs its prefix"


def service_address(docs: list[dict], url: str) -> str | None:
    """The Procfile process behind `http://<Service>:<port>`, if the port is the Service's."""
    parsed = urlparse(url)
    service = of_kind(docs, "Service").get(parsed.hostname or "")
    if service is None or service["spec"]["ports"][0]["port"] != parsed.port:
        return None
    for process, deployment in app_deployments(docs).items():
        if selects(
            {"matchLabels": service["spec"]["selector"]},
            deployment["spec"]["template"]["metadata"]["labels"],
        ):
            return process
    return None


def test_proxy_reaches_every_upstream_and_services_the_monoliths_jwks(docs):
    table = yaml.safe_load(fleet.ROUTES_TABLE.read_text())
    problems = []
    for process, deployment in app_deployments(docs).items():
        env = {e["name"]: e.get("value", "") for e in main_container(deployment).get("env", [])}
        if process == "proxy":
            for upstream, spec in table["upstreams"].items():
                for var in re.findall(r"\$\{(\w+)", " ".join(map(str, spec.get("instances", [])))):
                    if service_address(docs, env.get(var, "")) != upstream:
                        problems.append(f"proxy: {var}={env.get(var)!r} does not reach {upstream}")
        module = env.get("DJANGO_SETTINGS_MODULE")
        if module in fleet.settings_modules() and "JWKS_URL" in fleet.settings_reads(module).all:
            jwks = env.get("JWKS_URL", "")
            if service_address(docs, jwks) != "monolith" or not jwks.endswith(
                "/.well-known/jwks.json"
            ):
                problems.append(f"{process}: JWKS_URL={jwks!r} is not the monolith's")
    assert not problems


def test_env_is_complete_known_and_secrets_come_from_secrets(docs):
    configmaps = of_kind(docs, "ConfigMap")
    modules = fleet.settings_modules()
    problems = []
    for process, deployment in app_deployments(docs).items():
        container = main_container(deployment)
        env = {e["name"]: e for e in container.get("env", [])}
        from_config = {
            key
            for ref in container.get("envFrom", [])
            for key in configmaps[ref["configMapRef"]["name"]]["data"]
        }
        module = env.get("DJANGO_SETTINGS_MODULE", {}).get("value")
        if module not in modules:
            problems.append(
                f"{process}: DJANGO_SETTINGS_MODULE={module!r} is not a settings module"
            )
            continue
        inferred = fleet.settings_module_of_command(fleet.procfile().get(process, ""))
        if inferred and inferred != module:
            problems.append(f"{process}: runs {inferred} but DJANGO_SETTINGS_MODULE={module}")
        reads = fleet.settings_reads(module)
        problems += [
            f"{process}: {module} requires {v}"
            for v in reads.required
            if v not in env and v not in from_config
        ]
        problems += [
            f"{process}: sets {v}, which no code reads"
            for v in set(env) | from_config
            if not fleet.is_known_env(v)
        ]
        for name in set(env) | from_config:
            if SECRET_NAME.search(name) and "secretKeyRef" not in env.get(name, {}).get(
                "valueFrom", {}
            ):
                problems.append(f"{process}: {name} must come from a Secret (secretKeyRef)")
    assert not problems


def test_prod_inlines_no_secret():
    docs = render(ROOT / "k8s/overlays/prod")
    assert not of_kind(docs, "Secret")


def test_ingress_reaches_only_the_proxy(docs):
    backends = {
        path["backend"]["service"]["name"]
        for ingress in of_kind(docs, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"proxy"}


def test_the_proxys_route_table_seed_is_the_packaged_one(docs):
    """A deployment's Redis with no table yet starts from the image's strangler_proxy/routes.yaml."""
    from deploy.generate.k8s import ROUTES_SEED_K8S

    proxy = main_container(app_deployments(docs)["proxy"])
    routes_file = next(e["value"] for e in proxy["env"] if e["name"] == "STRANGLER_ROUTES_FILE")
    assert routes_file == ROUTES_SEED_K8S
    assert ROUTES_SEED_K8S.endswith("/strangler_proxy/routes.yaml")
    workdir = next(
        line.split()[1]
        for line in reversed((ROOT / "Dockerfile").read_text().splitlines())
        if line.startswith("WORKDIR")
    )
    assert f"{workdir}/strangler_proxy/routes.yaml" == ROUTES_SEED_K8S


def callers_of(docs: list[dict], labels: dict) -> set[str]:
    """Processes the pods selected by `labels` call by a URL in their env (a JWKS_URL)."""
    called = set()
    for deployment in app_deployments(docs).values():
        if labels and selects(
            {"matchLabels": labels}, deployment["spec"]["template"]["metadata"]["labels"]
        ):
            for e in main_container(deployment).get("env", []):
                if str(e.get("value", "")).startswith("http") and (
                    target := service_address(docs, e["value"])
                ):
                    called.add(target)
    return called


def test_network_policies_let_only_the_proxy_reach_services_and_each_service_its_database(docs):
    policies = list(of_kind(docs, "NetworkPolicy").values())
    assert any(
        p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
        for p in policies
    ), "no default deny"
    problems = []
    for process, deployment in app_deployments(docs).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for policy in policies:
            if not policy["spec"]["podSelector"] or not selects(
                policy["spec"]["podSelector"], labels
            ):
                continue
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    pod_ok = peer.get("podSelector", {}).get("matchLabels") == {
                        "strangler.io/role": "proxy"
                    }
                    ns = (
                        peer.get("namespaceSelector", {})
                        .get("matchLabels", {})
                        .get("kubernetes.io/metadata.name")
                    )
                    ns_ok = ns == "monitoring" or (ns == "ingress-nginx" and process == "proxy")
                    caller = peer.get("podSelector", {}).get("matchLabels", {})
                    if not (pod_ok or ns_ok or process in callers_of(docs, caller)):
                        problems.append(f"{process}: {policy['metadata']['name']} admits {peer}")
    for module in fleet.settings_modules():
        if module not in fleet.database_modules():
            continue
        service = module.rsplit(".", 1)[0].split(".")[-1]
        guard = [
            p
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels") == {"strangler.io/database-of": service}
        ]
        peers = [peer for p in guard for rule in p["spec"]["ingress"] for peer in rule["from"]]
        if not guard or peers != [
            {"podSelector": {"matchLabels": {"strangler.io/service": service}}}
        ]:
            problems.append(f"database of {service} is not reserved to its pods: {peers}")
    assert not problems


def test_extracted_services_reach_only_their_database_the_broker_and_the_jwks(docs):
    """Egress of an extracted service's pods: its own database, the broker, Redis (the control
    store), the monolith's web pods (JWKS), DNS and the telemetry collector; in prod, also the
    managed database, broker and Redis ports (outside the cluster, no pod to select)."""
    policies = list(of_kind(docs, "NetworkPolicy").values())
    problems = []
    for module in fleet.settings_modules():
        if not module.startswith("extracted."):
            continue
        service = module.split(".")[1]
        allowed = {
            json.dumps(p, sort_keys=True): need
            for p, need in (
                ({"podSelector": {"matchLabels": {"strangler.io/database-of": service}}}, True),
                ({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "rabbitmq"}}}, True),
                ({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}, True),
                (
                    {
                        "podSelector": {
                            "matchLabels": {
                                "strangler.io/service": "monolith",
                                "strangler.io/role": "web",
                            }
                        }
                    },
                    True,
                ),
                (
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    },
                    False,
                ),
                (
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "observability"}
                        }
                    },
                    False,
                ),
            )
        }
        egress = [
            rule
            for p in policies
            if "Egress" in p["spec"]["policyTypes"]
            and p["spec"]["podSelector"].get("matchLabels") == {"strangler.io/service": service}
            for rule in p["spec"].get("egress", [])
        ]
        if not egress:
            problems.append(f"{service}: no egress policy")
            continue
        seen = set()
        for rule in egress:
            if "to" not in rule:
                ports = {p.get("port") for p in rule.get("ports", [])}
                if not ports or not ports <= {5432, 5672, 6379}:
                    problems.append(f"{service}: egress to anywhere on {ports or 'every port'}")
                continue
            for peer in rule["to"]:
                key = json.dumps(peer, sort_keys=True)
                if key not in allowed:
                    problems.append(f"{service}: egress to {peer}")
                seen.add(key)
        problems += [
            f"{service}: cannot reach {json.loads(k)}"
            for k, need in allowed.items()
            if need and k not in seen
        ]
    assert not problems
