"""Traffic capture: shadowed requests become parity-corpus scenarios with no secrets in them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.parity.harness import load_corpus
from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.proxy.processes import ROOT
from tests.support.wait import wait_for


def test_shadowed_requests_export_as_scenarios_without_secrets(
    tmp_path, make_proxy, start_upstream, make_token
):
    # given a route in shadow mode (reads are copied, writes never)
    monolith, candidate = start_upstream("monolith"), start_upstream("catalog")
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "catalog": upstream_spec(candidate.url)},
            [
                {
                    "name": "catalog-read",
                    "prefix": "/api/v1/",
                    "mode": "shadow",
                    "upstream": "catalog",
                }
            ],
        )
    )
    staff_token = make_token("7", is_staff=True)
    customer_token = make_token("8")

    # when customers, staff and anonymous users send requests carrying secrets
    client.get(
        "/api/v1/products/",
        {"page": "2", "category": "coffee"},
        HTTP_AUTHORIZATION=f"Bearer {customer_token}",
        HTTP_COOKIE="sessionid=s3cr3t-session; csrftoken=abc",
    )
    client.get("/api/v1/products/COF-0001/")
    client.post(
        "/api/v1/users/",
        data=json.dumps(
            {"username": "bob", "password": "hunter2-pass", "profile": {"api_key": "k-123"}}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    client.get("/api/v1/products/COF-0001/")  # the same again: exported once
    capture = tmp_path / "shadow-capture.jsonl"
    wait_for(
        lambda: capture.exists() and len(capture.read_text().splitlines()) == 3,
        timeout=20,
        interval=0.05,
        what="three captured reads (the write is never shadowed)",
    )

    # then the export is a corpus the parity harness loads
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "capture",
            "export",
            "--route",
            "catalog-read",
            "--data",
            str(tmp_path),
            "--role",
            "customer=alice",
            "--ignore",
            "created_at",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    corpus = tmp_path / "captured.yaml"
    corpus.write_text(done.stdout)
    rules, scenarios = load_corpus(str(corpus))
    assert rules["catalog-read"].ignore == ("created_at",)
    assert [(s.method, s.path, s.user) for s in scenarios] == [
        ("GET", "/api/v1/products/", "alice"),
        ("GET", "/api/v1/products/COF-0001/", "anonymous"),
    ]
    assert scenarios[0].query == {"page": "2", "category": "coffee"}

    # and no secret is anywhere: not in the export, not in the store on disk
    for text in (done.stdout, capture.read_text()):
        for secret in (staff_token, customer_token, "s3cr3t-session", "hunter2", "k-123"):
            assert secret not in text
        assert "Bearer" not in text and "sessionid" not in text
    for scenario in scenarios:
        assert not {k.lower() for k in scenario.headers} & {"authorization", "cookie"}


def test_export_of_a_route_with_nothing_captured_fails(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "capture",
            "export",
            "--route",
            "x",
            "--data",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "nothing captured" in done.stderr
