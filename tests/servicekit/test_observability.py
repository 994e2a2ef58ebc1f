"""`configure_observability`: spans where something keeps them, none otherwise, and the trace
context carried on either way. Each case runs in a fresh interpreter: OpenTelemetry's global
tracer provider can be set once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# Configures as a service process does, then continues an incoming trace the way the Django
# and Celery instrumentation and the inbox do (extract, a span current, inject onward).
PROBE = f"""
import json
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from servicekit.web.observability import configure_observability

configure_observability(service_name="probe", instrument_django=False)
propagator = TraceContextTextMapPropagator()
parent = propagator.extract({{"traceparent": "{INCOMING}"}})
with trace.get_tracer("probe").start_as_current_span("handle", context=parent) as span:
    onward = {{}}
    propagator.inject(onward)
    recording = span.is_recording()
provider = trace.get_tracer_provider()
if hasattr(provider, "force_flush"):
    provider.force_flush()
print(json.dumps({{"provider": type(provider).__module__, "recording": recording, **onward}}))
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_FILE")
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "STRANGLER_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_an_exporter_no_span_is_made_and_the_trace_carries_on(tmp_path):
    seen = _probe(tmp_path)
    assert not seen["provider"].startswith("opentelemetry.sdk"), seen
    assert seen["recording"] is False
    # the incoming context goes on as it came (a no-op span is its parent's)
    assert seen["traceparent"] == INCOMING


def test_with_a_traces_file_spans_are_recorded_and_continue_the_incoming_trace(tmp_path):
    spans = tmp_path / "spans.jsonl"
    seen = _probe(tmp_path, OTEL_TRACES_FILE=str(spans))
    assert seen["provider"].startswith("opentelemetry.sdk"), seen
    assert seen["recording"] is True
    trace_id, span_id = INCOMING.split("-")[1:3]
    _, onward_trace, onward_span, _ = seen["traceparent"].split("-")
    assert (onward_trace, onward_span != span_id) == (trace_id, True)
    written = [json.loads(line) for line in spans.read_text().splitlines()]
    assert [s["name"] for s in written] == ["handle"]
    assert written[0]["parent_id"] == f"0x{span_id}"
