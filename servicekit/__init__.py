"""Shared, versioned plumbing for the monolith, the proxy and the extracted services.

Distributed as `django-strangler` (packages/django-strangler). The public API is the modules in
`PUBLIC_MODULES` and, in each, the names its `__all__` lists (else every name without a leading
underscore); anything else is internal and may change in any release. The demo shop uses only
the public API (tests/infra/test_public_api.py).
"""

__version__ = "0.1.0"

PUBLIC_MODULES: tuple[str, ...] = (
    # Django apps (INSTALLED_APPS)
    "servicekit.web",
    "servicekit.events.outbox",
    "servicekit.events.relay",
    "servicekit.events.inbox",
    "servicekit.migration",
    # events: contracts' building blocks, producing, consuming, settings
    "servicekit.events.envelope",
    "servicekit.events.event",
    "servicekit.events.types",
    "servicekit.events.settings",
    "servicekit.events.inbox.registry",
    "servicekit.events.inbox.mirror",
    "servicekit.events.inbox.celery_step",
    "servicekit.events.record",
    "servicekit.events.records",
    # moving data and ownership
    "servicekit.migration.ownership",
    "servicekit.migration.handover",
    "servicekit.migration.backfill",
    "servicekit.migration.export_client",
    "servicekit.migration.reconcile",
    "servicekit.migration.sequences",
    "servicekit.migration.ownership_gate",
    "servicekit.migration.export_view",
    # web: settings, errors, HTTP, auth, observability, operations
    "servicekit.web.env",
    "servicekit.web.service_settings",
    "servicekit.web.django_defaults",
    "servicekit.web.databases",
    "servicekit.web.errors",
    "servicekit.web.problems",
    "servicekit.web.gunicorn_worker",  # the Procfile's `--worker-class ...ProblemThreadWorker`
    "servicekit.web.ids",
    "servicekit.web.pagination",
    "servicekit.web.urls",
    "servicekit.web.url_inventory",
    "servicekit.web.request_id",
    "servicekit.web.forwarded",
    "servicekit.web.health",
    "servicekit.web.metrics",
    "servicekit.web.logging",
    "servicekit.web.observability",
    "servicekit.web.http_client",
    "servicekit.web.discovery.registry",
    "servicekit.web.backoff",
    "servicekit.web.files",
    "servicekit.web.commands",
    "servicekit.web.jwt.authentication",
    "servicekit.web.jwt.conf",
    "servicekit.web.jwt.keys",
    "servicekit.web.jwt.tokens",
    "servicekit.web.tls",
    "servicekit.web.tls.fleet",
    "servicekit.web.tls.stores",  # the data stores over TLS: settings apply database_tls/cache_tls
    "servicekit.web.tls.ca",  # the local CA: `python -m servicekit.web.tls.ca`
    "servicekit.web.ports",
    "servicekit.web.procfile",
    # need the [grpc] extra
    "servicekit.web.grpc_client",
    "servicekit.web.grpc_server",
    "servicekit.web.tls.grpc_credentials",
)
