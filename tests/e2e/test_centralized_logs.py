"""Centralized logs: one request found by its id in the proxy, the monolith, a relay and a consumer.

The Procfile's commands for those four processes run with JSON logs, each to its own file (as a
supervisor would keep them); `servicekit.web.log_shipper` pushes every line to Loki's push API,
and one LogQL query by request id must return lines of all four. Loki is the one at
`STRANGLER_LOKI_URL` when set, else tests/support/loki.py's recorder (no Grafana Loki can be
installed here: see that module and docs/running-at-scale.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import urllib3

from servicekit.web.ports import path_of, port_env_var
from servicekit.web.procfile import read_procfile
from tests.support import loki
from tests.support.processes import free_port, stop_processes
from tests.support.wait import wait_for, wait_http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FOLLOWED = ("proxy", "monolith", "monolith-relay", "monolith-notifications")


def _fleet_env(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    return {
        **env,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "DJANGO_ENV": "local",
        "STRANGLER_DATA_DIR": str(tmp_path / "data"),
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "STRANGLER_HEALTH_CHECKS": "false",
        "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{ports['monolith']}",
        **{port_env_var(name): str(port) for name, port in ports.items()},
    }


@contextlib.contextmanager
def _loki():
    url = loki.real_loki_url()
    if url:
        yield url
        return
    with loki.LokiRecorder() as recorder:
        yield recorder.url


def test_one_request_is_found_in_four_processes_by_its_request_id(tmp_path):
    commands = read_procfile(ROOT / "Procfile")
    ports = {"proxy": free_port(), "monolith": free_port()}
    env = _fleet_env(tmp_path, ports)
    logs = tmp_path / "logs"
    logs.mkdir()
    for setup in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        subprocess.run([sys.executable, "manage.py", *setup], cwd=ROOT, env=env, check=True)
    started: list[subprocess.Popen] = []
    handles = []
    try:
        with _loki() as loki_url:
            # given: the four processes, each logging to its file, and the shipper on those files
            for name in FOLLOWED:
                handle = (logs / f"{name}.log").open("wb")
                handles.append(handle)
                started.append(
                    subprocess.Popen(
                        ["sh", "-c", f"exec {commands[name]}"],
                        cwd=ROOT,
                        env=env,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            shipper = [sys.executable, "-m", "servicekit.web.log_shipper", "--url", loki_url]
            for name in FOLLOWED:
                shipper += ["--file", f"{name}={logs / f'{name}.log'}"]
            started.append(
                subprocess.Popen([*shipper, "--from-start", "--interval", "0.2"], cwd=ROOT, env=env)
            )
            for name, port in ports.items():
                wait_http(f"http://127.0.0.1:{port}{path_of(name, 'health')}", timeout=60)

            # when: alice places an order through the proxy under our request id
            proxy = f"http://127.0.0.1:{ports['proxy']}"
            http = urllib3.PoolManager()
            token = http.request(
                "POST",
                f"{proxy}/api/v1/auth/token",
                json={"username": "alice", "password": "alice-demo-pass"},
            ).json()["access"]
            request_id = f"central-logs-{uuid.uuid4().hex[:12]}"
            order = http.request(
                "POST",
                f"{proxy}/api/v1/orders/",
                json={"lines": [{"sku": "KIT-0003", "quantity": 1}]},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
            )
            assert order.status == 201, order.data
            assert order.headers["X-Request-ID"] == request_id

            # then: one LogQL query finds the request in all four processes
            query = f'{{job="strangler"}} | json | request_id="{request_id}"'

            def found() -> dict[str, list[dict]]:
                by_process: dict[str, list[dict]] = {}
                for stream in loki.query_range(loki_url, query):
                    process = stream["stream"]["process"]
                    by_process.setdefault(process, []).extend(
                        json.loads(line) for _, line in stream["values"]
                    )
                return by_process if set(FOLLOWED) <= set(by_process) else {}

            lines = wait_for(
                found, timeout=90, interval=0.5, what=f"{query} in {FOLLOWED}", ignore=(OSError,)
            )
    except BaseException:
        for name in FOLLOWED:
            print(f"--- {name}\n" + (logs / f"{name}.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        stop_processes(reversed(started))
        for handle in handles:
            handle.close()

    access = [x for x in lines["proxy"] if x.get("logger") == "strangler_proxy.access"]
    assert len(access) == 1, lines["proxy"]
    assert access[0]["upstream"] == "monolith" and access[0]["status"] == 201
    assert access[0]["route"] and access[0]["duration_ms"] >= 0 and access[0]["bytes"] > 0
    assert {x["service"] for x in lines["monolith"]} == {"monolith"}
    assert any(x["event"] == "outbox.published" for x in lines["monolith-relay"])
    applied = [x for x in lines["monolith-notifications"] if x["event"] == "inbox.applied"]
    assert applied and applied[0]["consumer"] == "monolith.notifications"
