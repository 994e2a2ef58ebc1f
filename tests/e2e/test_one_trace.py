"""One request, one trace: proxy → monolith → outbox → relay → broker → consumer.

The shared fleet (tests/e2e/conftest.py) runs with `OTEL_TRACES_FILE` (servicekit.web.observability writes every finished span
as a JSON line); an order placed through the proxy must leave spans of the proxy, of the
monolith's request and of the notifications consumer that handled its event, all in one trace.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3

from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e


def spans(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def service(span: dict) -> str:
    return span["resource"]["attributes"].get("service.name", "")


def test_an_order_is_one_trace_from_the_proxy_to_the_consumer(shop_fleet):
    env = shop_fleet
    traces = Path(env["OTEL_TRACES_FILE"])
    http = urllib3.PoolManager()
    proxy = env["PROXY"]
    token = http.request(
        "POST",
        f"{proxy}/api/v1/auth/token",
        json={"username": "alice", "password": "alice-demo-pass"},
    ).json()["access"]
    auth = {"Authorization": f"Bearer {token}"}
    order = http.request(
        "POST",
        f"{proxy}/api/v1/orders/",
        json={"lines": [{"sku": "KIT-0003", "quantity": 1}]},
        headers=auth,
    )
    assert order.status == 201, order.data
    order_id = order.json()["id"]

    def consumer_span_of_the_order() -> dict | None:
        return next(
            (
                s
                for s in spans(traces)
                if s["name"] == "orders.order_placed.v1 process"
                and s["attributes"].get("messaging.consumer.group.name") == "monolith.notifications"
                and any(
                    o["name"].startswith("POST")
                    and service(o) == "monolith"
                    and o["context"]["trace_id"] == s["context"]["trace_id"]
                    for o in spans(traces)
                )
            ),
            None,
        )

    consumer_span = wait_for(
        consumer_span_of_the_order,
        timeout=90,
        interval=0.5,
        what="the consumer to handle the order's event",
    )

    trace_id = consumer_span["context"]["trace_id"]
    in_trace = [s for s in spans(traces) if s["context"]["trace_id"] == trace_id]
    services = {service(s) for s in in_trace}
    assert any("proxy" in name for name in services), services
    assert "monolith" in services and service(consumer_span) == "monolith-monolith.notifications"
    # parent links: the consumer's span descends from the monolith's request span
    ids = {s["context"]["span_id"] for s in in_trace}
    assert consumer_span["parent_id"] in ids
    assert order_id  # the order this trace belongs to
