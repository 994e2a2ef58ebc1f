"""The lifecycle evaluator inside a real proxy (gunicorn, 2 workers): a good candidate is promoted
step by step on its own, broken ones (5xx, wrong bodies) are rolled back, and a promotion without
enough evidence is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3
import yaml

from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec
from tests.proxy.processes import ROOT, ProxyProcess

BODY = json.dumps({"sku": "COF-0001", "name": "Coffee", "price": "12.50"}).encode()
GATES = {
    "min_requests": 20,
    "max_mismatch_rate": 0.05,
    "max_error_rate": 0.05,
    "max_p99_ms": 2000,
    "window_seconds": 600,
    "rollback_min_requests": 10,
}


def _answers(body: bytes = BODY, status: int = 200):
    def behaviour(handler, record):
        if record["target"].startswith("/api/"):
            return status, body
        return None

    return behaviour


def _routes(monolith: str, candidate: str, *, mode: str, percent: float | None = None) -> str:
    route = {
        "name": "products",
        "prefix": "/api/v1/products/",
        "mode": mode,
        "upstream": "catalog",
        "fallback": "monolith",
        "lifecycle": {"gates": GATES, "canary_steps": [10, 50], "auto": True},
    }
    if percent is not None:
        route["percent"] = percent
    return routes_yaml(
        {"monolith": upstream_spec(monolith), "catalog": upstream_spec(candidate)}, [route]
    )


def _start(tmp_path: Path, text: str) -> ProxyProcess:
    routes = tmp_path / "routes.yaml"
    routes.write_text(text, encoding="utf-8")
    return ProxyProcess(
        routes,
        data_dir=tmp_path / "data",
        env={
            "STRANGLER_LIFECYCLE_EVALUATOR": "true",
            "STRANGLER_LIFECYCLE_INTERVAL": "0.3",
            "STRANGLER_HEALTH_CHECKS": "false",
            "STRANGLER_ADMIN_TOKEN": ADMIN_TOKEN,
        },
    )


def _route(proxy: ProxyProcess) -> dict:
    return yaml.safe_load(proxy.routes_file.read_text())["routes"][0]


def _drive(proxy: ProxyProcess, until, *, what: str, limit: int = 6000) -> None:
    """Send traffic as many different users (session cookies) until `until()` holds."""
    http = urllib3.PoolManager(maxsize=4)
    for sent in range(limit):
        response = http.request(
            "GET",
            f"{proxy.url}/api/v1/products/COF-0001/",
            headers={"Cookie": f"sessionid=user-{sent}"},
            retries=False,
        )
        assert response.status in (200, 500), response.data[:200]
        if sent % 25 == 0 and until():
            return
    raise AssertionError(f"{what}: not reached after {limit} requests\n{proxy.output()[-3000:]}")


def _moved(proxy: ProxyProcess, stage: str) -> bool:
    """The route reached `stage` and its history entry is written (it follows the file)."""
    history = _history(proxy)
    return bool(history) and history[-1]["to"] == stage and _route(proxy)["mode"] == stage


def _history(proxy: ProxyProcess) -> list[dict]:
    path = proxy.routes_file.parent / "data" / "proxy" / "lifecycle.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_good_candidate_is_promoted_step_by_step(tmp_path, start_upstream):
    # given a candidate that answers exactly like the monolith, in shadow
    monolith = start_upstream("monolith", _answers())
    candidate = start_upstream("catalog", _answers())
    with _start(tmp_path, _routes(monolith.url, candidate.url, mode="shadow")) as proxy:
        # when traffic flows
        _drive(proxy, lambda: _moved(proxy, "extracted"), what="extracted")

        # then every step was taken by the evaluator, each on enough evidence
        steps = [(h["action"], h["from"], h["to"], h["by"]) for h in _history(proxy)]
        assert steps == [
            ("promote", "shadow", "canary:10", "auto"),
            ("promote", "canary:10", "canary:50", "auto"),
            ("promote", "canary:50", "extracted", "auto"),
        ]
        for entry in _history(proxy):
            assert entry["evidence"]["requests"] >= GATES["min_requests"]
            assert entry["evidence"]["error_rate"] == 0
        assert _history(proxy)[0]["evidence"]["mismatch_rate"] == 0
        assert len(candidate.received) > GATES["min_requests"] * 3

        # and the admin API shows the same history with its evidence
        http = urllib3.PoolManager()
        report = http.request(
            "GET",
            f"{proxy.url}/_strangler/lifecycle",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert report.status == 200, report.data
        assert [h["to"] for h in report.json()["history"]] == [
            "extracted",
            "canary:50",
            "canary:10",
        ]
        status = report.json()["routes"][0]
        assert status["stage"] == "extracted" and status["next_stage"] == "retired"


def test_a_candidate_answering_500s_is_rolled_back(tmp_path, start_upstream):
    monolith = start_upstream("monolith", _answers())
    candidate = start_upstream("catalog", _answers(b'{"detail": "boom"}', 500))
    text = _routes(monolith.url, candidate.url, mode="canary", percent=50)
    with _start(tmp_path, text) as proxy:
        _drive(proxy, lambda: _moved(proxy, "monolith"), what="rollback")
        rollback = _history(proxy)[-1]
        assert (rollback["action"], rollback["from"], rollback["to"]) == (
            "rollback",
            "canary:50",
            "monolith",
        )
        assert rollback["evidence"]["error_rate"] > GATES["max_error_rate"]
        assert rollback["evidence"]["requests"] >= GATES["rollback_min_requests"]
        assert "error rate" in rollback["reasons"][0]
        assert "percent" not in _route(proxy)
        # afterwards nothing goes to the candidate any more
        seen = len(candidate.received)
        http = urllib3.PoolManager()
        time.sleep(0.5)  # workers re-read the routes file (STRANGLER_ROUTES_CHECK_INTERVAL=0.2)
        for n in range(30):
            response = http.request(
                "GET",
                f"{proxy.url}/api/v1/products/COF-0001/",
                headers={"Cookie": f"sessionid=after-{n}"},
            )
            assert response.status == 200
        assert len(candidate.received) == seen


def test_a_candidate_answering_wrong_bodies_is_rolled_back_from_shadow(tmp_path, start_upstream):
    monolith = start_upstream("monolith", _answers())
    wrong = json.dumps({"sku": "COF-0001", "name": "Coffee", "price": "99.00"}).encode()
    candidate = start_upstream("catalog", _answers(wrong))
    with _start(tmp_path, _routes(monolith.url, candidate.url, mode="shadow")) as proxy:
        _drive(proxy, lambda: _moved(proxy, "monolith"), what="rollback")
        rollback = _history(proxy)[-1]
        assert (rollback["action"], rollback["from"]) == ("rollback", "shadow")
        assert rollback["evidence"]["mismatch_rate"] == 1.0
        assert "mismatch rate" in " ".join(rollback["reasons"])


def _cli(proxy: ProxyProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "--file", str(proxy.routes_file), *args],
        cwd=ROOT,
        env={**proxy.env, "STRANGLER_LIFECYCLE_EVALUATOR": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_promotion_is_refused_without_enough_evidence(tmp_path, start_upstream):
    monolith = start_upstream("monolith", _answers())
    candidate = start_upstream("catalog", _answers())
    text = _routes(monolith.url, candidate.url, mode="shadow").replace("auto: true", "auto: false")
    with _start(tmp_path, text) as proxy:
        http = urllib3.PoolManager()
        for _ in range(3):
            assert http.request("GET", f"{proxy.url}/api/v1/products/COF-0001/").status == 200
        metrics = ["--metrics", f"{proxy.url}/_strangler/metrics"]
        data = ["--data", str(tmp_path / "data" / "proxy")]

        refused = _cli(proxy, "lifecycle", "promote", "products", *metrics, *data)

        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused" in refused.stdout and "not enough evidence" in refused.stdout
        assert _route(proxy)["mode"] == "shadow"
        assert _history(proxy)[-1]["action"] == "refused"

        # forcing is possible, and recorded as forced
        forced = _cli(proxy, "lifecycle", "promote", "products", "--force", *metrics, *data)
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert _route(proxy) | {} and _route(proxy)["mode"] == "canary"
        assert _history(proxy)[-1]["forced"] is True

        status = _cli(proxy, "lifecycle", "status", "--json", *metrics, *data)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)[0]["stage"] == "canary:10"

        rolled = _cli(proxy, "lifecycle", "rollback", "products", *metrics, *data)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert _route(proxy)["mode"] == "monolith"


@pytest.fixture(autouse=True)
def _no_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
