"""A gRPC server for a Django service: a thread pool, the standard health service, and an
interceptor that binds each call's `x-request-id` and `traceparent` to its logs and span."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from concurrent import futures
from typing import Any

import grpc
import structlog
from django.db import close_old_connections
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from servicekit.web.grpc_client import REQUEST_ID_KEY
from servicekit.web.procfile import GRPC_THREADS
from servicekit.web.request_id import request_id_from
from servicekit.web.tls import grpc_credentials, mtls_enabled, own_name

HEALTH_PREFIX = "/grpc.health.v1.Health/"
log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


class CallContextInterceptor(grpc.ServerInterceptor):
    """Per unary call: the caller's request id (or a fresh one) and trace context in structlog's
    context and the span, a `grpc_call` log line with the status, and Django's connection
    hygiene around it (the pool's threads outlive requests, as gunicorn's do)."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        # probes ask every few seconds and touch no database: not worth a log line each
        if handler is None or handler.unary_unary is None or method.startswith(HEALTH_PREFIX):
            return handler
        incoming = dict(handler_call_details.invocation_metadata or ())
        inner = handler.unary_unary

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = request_id_from(incoming.get(REQUEST_ID_KEY))
            traceparent = incoming.get("traceparent", "")
            token = otel_context.attach(propagate.extract(incoming))
            started = time.perf_counter()
            close_old_connections()
            try:
                with (
                    structlog.contextvars.bound_contextvars(
                        request_id=request_id, traceparent=traceparent
                    ),
                    tracer.start_as_current_span(method, kind=trace.SpanKind.SERVER),
                ):
                    context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
                    try:
                        answer = inner(request, context)
                    finally:
                        code = context.code() or grpc.StatusCode.OK
                        log.info(
                            "grpc_call",
                            method=method,
                            code=getattr(code, "name", str(code)),
                            duration_ms=round((time.perf_counter() - started) * 1000, 2),
                        )
                    return answer
            finally:
                close_old_connections()
                otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def build_server(
    *,
    address: str,
    services: Iterable[tuple[Any, Any, str]],
    max_workers: int = GRPC_THREADS,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """`services`: (add_XServicer_to_server, servicer, full service name); `credentials`: TLS
    (servicekit.web.tls.grpc_credentials.server_credentials), else plain. Returns the server
    (not started), its health servicer (every service SERVING) and the port bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=[CallContextInterceptor()],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for add, servicer, name in services:
        add(servicer, server)
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, health_servicer, port


def health_check(
    target: str,
    *,
    service: str = "",
    timeout: float = 1.0,
    server_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """True when `target` answers the standard health check with SERVING. Under mTLS
    (STRANGLER_MTLS) the check presents this process's certificate (STRANGLER_TLS_NAME) and
    expects `server_name`'s (default: the same name, a service checking its own server)."""
    if mtls_enabled(environ=environ):
        name = own_name(environ=environ, default=server_name)
        channel = grpc_credentials.secure_channel(
            target, server_name=server_name or name, name=name, environ=environ
        )
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str]) -> int:
    """`python -m servicekit.web.grpc_server TARGET [SERVICE]`: SERVING (exit 0) or NOT SERVING
    (exit 1), what a readiness probe or a person asks."""
    if not 1 <= len(argv) <= 2:
        print("usage: python -m servicekit.web.grpc_server HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    serving = health_check(argv[0], service=argv[1] if len(argv) == 2 else "")
    print("SERVING" if serving else "NOT SERVING")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
