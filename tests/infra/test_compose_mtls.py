"""The mTLS switch of the containers (issue 18, docs/mtls.md): docker-compose.yml carries it
in every app container, off by default; the image's entry point then runs each process as
`make run` runs it under the switch; the image's health check reaches a service that refuses
plain connections (the check compose runs, and Kubernetes' exec probes in k8s/examples/mtls)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
import yaml

from deploy.container import entrypoint, healthcheck
from deploy.generate.fleet import TLS_DIR
from servicekit.web.ports import PORTS, port_env_var
from servicekit.web.procfile import bind_of, read_procfile
from servicekit.web.tls import server_context
from servicekit.web.tls.ca import ca_init, identity_issue
from servicekit.web.tls.fleet import owner_of
from tests.infra.fleet import ROOT
from tests.infra.test_compose import app_services, env_of, interpolate


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_app_container_carries_the_switch_off_by_default_and_the_certificates(compose):
    services = app_services(compose)
    maker = services.pop(entrypoint.CERTIFICATES)
    assert maker["restart"] == "no" and maker["volumes"] == [f"tls:{TLS_DIR}"]
    assert env_of(maker) == {"STRANGLER_TLS_DIR": TLS_DIR}
    problems = []
    for name, svc in services.items():
        env = env_of(svc)
        if env.get("STRANGLER_MTLS") != "${STRANGLER_MTLS:-off}":
            problems.append(f"{name}: STRANGLER_MTLS={env.get('STRANGLER_MTLS')!r}")
        if env.get("STRANGLER_TLS_DIR") != TLS_DIR:
            problems.append(f"{name}: STRANGLER_TLS_DIR={env.get('STRANGLER_TLS_DIR')!r}")
        if f"tls:{TLS_DIR}:ro" not in svc.get("volumes", []):
            problems.append(f"{name}: the certificates are not mounted read-only")
        once = svc.get("restart") == "no"
        rule = (svc.get("depends_on") or {}).get(entrypoint.CERTIFICATES, {})
        if not once and rule.get("condition") != "service_completed_successfully":
            problems.append(f"{name}: starts before the certificates are made")
    assert not problems
    assert "tls" in compose["volumes"]


def switched_on(compose: dict, tls_dir: Path, name: str) -> dict[str, str]:
    env = {k: interpolate(v) for k, v in env_of(compose["services"][name]).items()}
    return {**env, "STRANGLER_MTLS": "on", "STRANGLER_TLS_DIR": str(tls_dir)}


def test_under_the_switch_every_service_but_the_public_proxy_requires_client_certificates(
    compose, tmp_path
):
    procfile = read_procfile(ROOT / "Procfile")
    # given: what the `certificates` one-shot makes
    entrypoint.fleet_mtls({"STRANGLER_TLS_DIR": str(tmp_path)}, procfile)
    problems = []
    for name, svc in app_services(compose).items():
        process = svc["command"][0]
        if process not in procfile:
            continue
        # when: the entry point prepares the process with the switch on
        env = switched_on(compose, tmp_path, name)
        command = entrypoint.under_mtls(procfile, env)[process]
        # then: it serves HTTPS requiring a client certificate, its service's own
        owner = owner_of(process)
        if bind_of(procfile[process]) and process != "proxy":
            if f"--cert-reqs {ssl.CERT_REQUIRED:d}" not in command:
                problems.append(f"{name}: serves without requiring a client certificate")
            if f"--certfile {tmp_path / owner}.pem" not in command:
                problems.append(f"{name}: does not serve {owner}'s certificate")
        elif "--certfile" in command:
            problems.append(f"{name}: the public proxy's port must stay plain")
        if not command.startswith(f"env STRANGLER_TLS_NAME={owner} "):
            problems.append(f"{name}: does not present {owner}'s certificate as a client")
        # and every internal URL it calls is https
        plain = [v for k, v in env.items() if k.endswith("_URL") and v.startswith("http://")]
        internal = [u for u in plain if any(f"//{s}:" in u for s in PORTS)]
        problems += [f"{name}: still calls {url}" for url in internal]
        # off: the Procfile's command as it is
        env["STRANGLER_MTLS"] = "off"
        if entrypoint.under_mtls(procfile, env)[process] != procfile[process]:
            problems.append(f"{name}: changed with the switch off")
    assert not problems


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path in ("/healthz", "/readyz") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def catalog_under_mtls(tmp_path, monkeypatch) -> Iterator[int]:
    """A server on the catalog's certificate refusing clients without one of the fleet's."""
    env = {"STRANGLER_TLS_DIR": str(tmp_path)}
    ca_init(environ=env)
    identity_issue("catalog", environ=env)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    server.socket = server_context("catalog", environ=env).wrap_socket(
        server.socket, server_side=True
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    state = tmp_path / "process"
    state.write_text("catalog\n")
    monkeypatch.setattr(healthcheck, "STATE", state)
    monkeypatch.setenv("STRANGLER_TLS_DIR", str(tmp_path))
    monkeypatch.setenv(port_env_var("catalog"), str(port))
    yield port
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_health_check_reaches_a_service_that_refuses_plain_clients(
    catalog_under_mtls, monkeypatch
):
    # given: a plain client is refused (no certificate, or plain HTTP)
    url = f"https://127.0.0.1:{catalog_under_mtls}/healthz"
    plain = urllib3.PoolManager(cert_reqs="CERT_NONE", retries=False, timeout=3)
    with pytest.raises(urllib3.exceptions.HTTPError):
        plain.request("GET", url)
    monkeypatch.setenv("STRANGLER_MTLS", "off")
    assert healthcheck.main() == 1
    # when / then: with the switch on it presents the catalog's certificate and is served
    monkeypatch.setenv("STRANGLER_MTLS", "on")
    assert healthcheck.main() == 0
    assert healthcheck.main("ready") == 0


def test_the_podman_fleet_under_mtls_turns_on_the_switch_of_every_app_container_only(compose):
    """What `make containers` and tests/containers run with the switch on: docker-compose.yml
    as `STRANGLER_MTLS=on docker compose up` reads it, nothing else changed."""
    import copy

    from deploy.podman.fleet import mtls_on

    switched = mtls_on(copy.deepcopy(compose))
    for name, svc in compose["services"].items():
        before, after = env_of(svc), env_of(switched["services"][name])
        if "STRANGLER_MTLS" in before:
            assert after["STRANGLER_MTLS"] == "on", name
        assert {k: v for k, v in after.items() if k != "STRANGLER_MTLS"} == {
            k: v for k, v in before.items() if k != "STRANGLER_MTLS"
        }, name
    assert sum(env_of(s).get("STRANGLER_MTLS") == "on" for s in switched["services"].values()) > 5
