"""WSGI entry point: `gunicorn -c strangler_proxy/gunicorn.conf.py strangler_proxy.wsgi`.

Operator paths (`/_strangler/`) go through Django; every other request takes the fast path
straight to the same `Proxy.handle` the catch-all view calls, skipping Django's request and
response objects, URL resolver and signals, which cost more than forwarding itself
(benchmarks/bench_proxy.py measures both).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler_proxy.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

if settings.STRANGLER_PROXY["TRACING"]:
    # Before the handler loads its middleware: the Django instrumentation adds one.
    from servicekit.web.observability import configure_observability

    configure_observability(service_name=settings.SERVICE_NAME)

django_application = get_wsgi_application()

from strangler_proxy.edge.app import ProxyApplication  # noqa: E402

application = ProxyApplication(django_application, via_django=settings.STRANGLER_PROXY["TRACING"])

if settings.STRANGLER_PROXY["CONTROL_STORE"]:
    # With a shared control store each worker is a replica from its start: it follows the route
    # table (a flip waits for its ack) and competes to lead the lifecycle evaluator before any
    # request arrives (the runtime is otherwise built on the first request).
    from strangler_proxy.runtime import get_runtime

    get_runtime()

# The control centre's plots are sampled by one worker per host, never on the request path.
from strangler_proxy.runtime import start_series_sampler  # noqa: E402

start_series_sampler()
