"""Debian's Prometheus, configured by scripts/prometheus.py, scrapes a fleet started from the
Procfile: every target comes up, the alert rules load and the key metrics are there, among them
every service's outbox lag, which the control centre reads too."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request

import yaml

from servicekit.web.ports import path_of, port_env_var
from tests.infra import fleet
from tests.support.packages import debian_binary
from tests.support.processes import free_port, stop_processes
from tests.support.wait import wait_for

ROOT = fleet.ROOT
ADMIN_TOKEN = "prometheus-test-admin-token"


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "prometheus_script", ROOT / "scripts" / "prometheus.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def upstream_env(ports: dict[str, int]) -> dict[str, str]:
    """`STRANGLER_CATALOG_URL=http://127.0.0.1:<catalog's test port>` for the route table's
    upstreams; each must be an HTTP process the test starts."""
    table = yaml.safe_load(fleet.ROUTES_TABLE.read_text())
    env = {}
    for upstream, spec in table["upstreams"].items():
        for var in re.findall(r"\$\{(\w+)", " ".join(map(str, spec.get("instances", [])))):
            assert upstream in ports, f"route table upstream {upstream} is not a Procfile process"
            env[var] = f"http://127.0.0.1:{ports[upstream]}"
    return env


def test_prometheus_scrapes_every_http_process_of_the_fleet(tmp_path):
    debian_binary("prometheus", "prometheus")  # skipped only where it cannot be had (not in CI)
    script = _load_script()
    processes = fleet.procfile()
    web = script.fleet_ports()
    assert web, "the Procfile has no HTTP process"
    ports = {name: free_port() for name in web}
    env = {
        **os.environ,
        "PATH": f"{fleet.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_ENV": "local",
        "STRANGLER_DATA_DIR": str(tmp_path / "data"),
        "LOG_JSON": "true",
        "STRANGLER_ADMIN_TOKEN": ADMIN_TOKEN,
        **{port_env_var(name): str(port) for name, port in ports.items()},
        # Every service reads the same ownership file, as in compose and k8s.
        "OWNERSHIP_FILE": str(tmp_path / "ownership.yaml"),
        # Extracted services verify tokens with the monolith's JWKS on its test port.
        "JWKS_URL": f"http://127.0.0.1:{ports['monolith']}/.well-known/jwks.json",
        # The proxy in front of every upstream of its route table, on their test ports.
        **upstream_env(ports),
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    for name in [n for n in env if n.endswith("_DATABASE_URL")]:
        env.pop(name)
    started: list[subprocess.Popen] = []
    log_path = tmp_path / "fleet.log"
    with log_path.open("w+b") as logs:
        _run(script, processes, web, ports, env, started, logs, tmp_path)


def _run(script, processes, web, ports, env, started, logs, tmp_path) -> None:
    try:
        # given: every settings module with a database migrated, every HTTP process running
        for module, _ in fleet.settings_modules().items():
            if module in fleet.database_modules():
                subprocess.run(
                    [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
                    cwd=ROOT,
                    env={**env, "DJANGO_SETTINGS_MODULE": module},
                    check=True,
                )
        for name in web:
            # One metrics folder per process: gunicorn's workers share it, processes must not.
            multiproc = tmp_path / f"multiproc-{name}"
            multiproc.mkdir()
            started.append(
                subprocess.Popen(
                    ["sh", "-c", f"exec {processes[name]}"],
                    cwd=ROOT,
                    env={**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
                    stdout=logs,
                    stderr=logs,
                    start_new_session=True,
                )
            )
        for name, port in ports.items():
            health = f"http://127.0.0.1:{port}{path_of(name, 'health')}"
            wait_for(
                lambda url=health: get_json(url),
                timeout=60,
                interval=0.5,
                what=health,
                ignore=(OSError,),
            )
            for _ in range(3):
                get_json(health)

        # when
        prom_port = free_port()
        config = script.config_for(ports, interval="1s")
        started.append(
            script.start(
                config, folder=tmp_path / "prometheus", port=prom_port, stdout=logs, stderr=logs
            )
        )
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        # then: every target up
        def all_up():
            targets = get_json(f"{api}/targets")["data"]["activeTargets"]
            return (
                len(targets) == len(ports) and all(t["health"] == "up" for t in targets) and targets
            )

        targets = wait_for(
            all_up, timeout=60, interval=0.5, what="every target up", ignore=(OSError,)
        )
        assert {t["labels"]["process"] for t in targets} == set(ports)

        def query(expr: str) -> list:
            url = f"{api}/query?" + urllib.parse.urlencode({"query": expr})
            return get_json(url)["data"]["result"]

        # The proxy counts what it forwards (its own /_strangler/ paths are not counted, and
        # gunicorn's multiprocess mode exports no process_* series): send it some traffic.
        if "proxy" in ports:
            for _ in range(3):
                get_json(f"http://127.0.0.1:{ports['proxy']}/healthz")
        for name in ports:
            # Django services count requests through the middleware; the proxy has its own.
            expr = (
                f'http_requests_total{{job="{name}",route="{path_of(name, "health")}"}}'
                if name != "proxy"
                else 'proxy_upstream_requests_total{job="proxy",upstream="monolith",status="200"}'
            )
            wait_for(
                lambda expr=expr: query(expr),
                timeout=30,
                interval=0.5,
                what=expr,
                ignore=(OSError,),
            )
        assert query('http_request_duration_seconds_bucket{job="monolith"}')

        # then: every service with an outbox (all but the proxy) exports its lag, and the
        # control centre's read model has a number for each
        services = sorted(set(ports) - {"proxy"})
        for name in services:
            expr = f'outbox_pending_messages{{job="{name}"}}'
            wait_for(
                lambda expr=expr: query(expr),
                timeout=30,
                interval=0.5,
                what=expr,
                ignore=(OSError,),
            )
        lagging = query("outbox_oldest_pending_age_seconds")
        assert {r["metric"]["job"] for r in lagging} == set(services)
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['proxy']}/_strangler/outbox",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            read_model = json.loads(response.read())["services"]
        assert set(read_model) == set(services), read_model
        for name, lag in read_model.items():
            assert isinstance(lag.get("pending"), (int, float)), (name, lag)
            assert isinstance(lag.get("oldest_age_seconds"), (int, float)), (name, lag)
        rules = get_json(f"{api}/rules")["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {"TargetDown", "OutboxLagging"}
    except AssertionError:
        logs.seek(0)
        print(logs.read().decode(errors="replace")[-5000:])
        raise
    finally:
        stop_processes(reversed(started))
