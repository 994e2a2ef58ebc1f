"""One entry point for telemetry: `configure_observability(service_name=...)`.

Called from wsgi/asgi and Celery's `worker_process_init`. Spans go to OTLP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, to a JSON-lines file when `OTEL_TRACES_FILE` is set.
With neither, no span is made at all: the SDK's tracer provider is not installed, and
OpenTelemetry's default (no-op) tracer still carries an incoming `traceparent` on (into the
handler, onto outgoing calls, into outbox events) at no span's cost (a recorded span nobody
exports cost each request and each consumed event its CPU for nothing).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

_configured: set[str] = set()
_lock = threading.Lock()


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file (local runs without a collector)."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [span.to_json(indent=None) for span in spans]
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(json.loads(line)) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:  # pragma: no cover - nothing to release
        return None


def configure_observability(*, service_name: str, instrument_django: bool = True) -> None:
    """Idempotent per process: set the tracer provider and instrument Django, requests, Celery."""
    with _lock:
        if service_name in _configured:
            return
        _configured.add(service_name)
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        path = os.environ.get("OTEL_TRACES_FILE")
        if endpoint or path:
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            if endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            if path:
                provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
            trace.set_tracer_provider(provider)

        if instrument_django:
            from opentelemetry.instrumentation.django import DjangoInstrumentor

            DjangoInstrumentor().instrument()
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        RequestsInstrumentor().instrument()
        CeleryInstrumentor().instrument()
