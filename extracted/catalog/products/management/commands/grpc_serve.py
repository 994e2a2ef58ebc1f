"""`manage.py grpc_serve --port N`: the catalog's gRPC server (catalog.v1.Pricing and the standard
health service) until SIGTERM/SIGINT, then a graceful stop. Under mTLS (`STRANGLER_MTLS=on`) it
serves TLS with its certificate (`STRANGLER_TLS_NAME`, default catalog) and refuses any caller
without one from the fleet's CA (docs/mtls.md)."""

from __future__ import annotations

import signal
import threading

import structlog
from django.core.management.base import BaseCommand

from extracted.catalog.products import grpc_api
from servicekit.web.commands import NO_SYSTEM_CHECKS
from servicekit.web.grpc_server import build_server
from servicekit.web.observability import configure_observability
from servicekit.web.procfile import GRPC_THREADS
from servicekit.web.tls import mtls_enabled, own_name
from servicekit.web.tls.grpc_credentials import server_credentials

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = "Serve the catalog's gRPC API (catalog.v1.Pricing, grpc.health.v1.Health)."
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50051)
        parser.add_argument("--workers", type=int, default=GRPC_THREADS)
        parser.add_argument("--grace", type=float, default=5.0, help="seconds to finish calls")

    def handle(self, *args, **options):
        configure_observability(service_name="catalog", instrument_django=False)
        tls = mtls_enabled()
        server, health, port = build_server(
            address=f"{options['host']}:{options['port']}",
            services=grpc_api.services(),
            max_workers=options["workers"],
            credentials=server_credentials(own_name(default="catalog")) if tls else None,
        )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
        log.info("grpc_serving", host=options["host"], port=port, mtls=tls)
        self.stdout.write(f"catalog gRPC listening on {options['host']}:{port}", ending="\n")
        self.stdout.flush()
        stop.wait()
        health.enter_graceful_shutdown()
        server.stop(options["grace"]).wait()
        log.info("grpc_stopped", port=port)
