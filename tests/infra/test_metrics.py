"""The `/metrics` view and the request metrics middleware on the monolith."""

from __future__ import annotations

import pybreaker
import pytest
from django.urls import path
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from servicekit.web import health, metrics
from servicekit.web.metrics import BREAKER_STATE, BreakerMetricsListener

# Its own URLconf so these tests hold whatever state the monolith's apps are in.
urlpatterns = [
    path("healthz", health.healthz),
    path("metrics", metrics.metrics),
]
pytestmark = pytest.mark.urls(__name__)


def _samples(body: bytes) -> list:
    return [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]


def outbox_stub_collector():
    gauge = GaugeMetricFamily("outbox_pending_messages", "stub", labels=["service"])
    gauge.add_metric(["monolith"], 3)
    yield gauge


def test_metrics_counts_requests_by_url_pattern_not_raw_path(client, db):
    # db: the monolith's scrape-time collectors (outbox lag) read its database.
    # given
    client.get("/healthz")
    client.get("/no-such-thing-12345")

    # when
    response = client.get("/metrics")

    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content)
    routes = {
        s.labels["route"]
        for s in samples
        if s.name == "http_requests_total" and s.labels["service"] == "monolith"
    }
    assert "/healthz" in routes
    assert "<unmatched>" in routes
    assert not any("12345" in route for route in routes)
    assert any(s.name == "http_request_duration_seconds_bucket" for s in samples)


def test_metrics_adds_the_collectors_named_in_settings(client, settings):
    settings.SERVICEKIT_METRICS_COLLECTORS = ["tests.infra.test_metrics.outbox_stub_collector"]

    samples = _samples(client.get("/metrics").content)

    assert ("outbox_pending_messages", {"service": "monolith"}, 3.0) in [
        (s.name, s.labels, s.value) for s in samples
    ]


def test_breaker_listener_publishes_open_then_closed():
    breaker = pybreaker.CircuitBreaker(
        fail_max=1, name="infra-test", listeners=[BreakerMetricsListener()]
    )

    def boom():
        raise ConnectionError("down")

    with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
        breaker.call(boom)
    assert BREAKER_STATE.labels("infra-test")._value.get() == 2
    breaker.close()
    assert BREAKER_STATE.labels("infra-test")._value.get() == 0


def test_every_extracted_service_exports_its_outbox_lag(monkeypatch, tmp_path):
    """The extracted services' settings come from `service_settings`; the monolith's list too."""
    from django.conf import settings

    from servicekit.web.service_settings import service_settings

    monkeypatch.setenv("STRANGLER_DATA_DIR", str(tmp_path))
    built = service_settings(
        service_name="any", apps=[], urlconf="u", wsgi="w", title="t", description="d"
    )
    for collectors in (
        built["SERVICEKIT_METRICS_COLLECTORS"],
        settings.SERVICEKIT_METRICS_COLLECTORS,
    ):
        assert "servicekit.events.outbox.metrics.collect_outbox" in collectors
