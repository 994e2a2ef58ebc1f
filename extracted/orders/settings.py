"""Orders service settings: the shared service defaults, ownership, saga and fake payments."""

from contracts import topology
from servicekit.web.django_defaults import reconcile_settings
from servicekit.web.env import env_bool, env_str
from servicekit.web.service_settings import service_settings

_settings = service_settings(
    service_name="orders",
    apps=["extracted.orders.orders", "extracted.orders.history", "extracted.orders.payments"],
    urlconf="extracted.orders.urls",
    wsgi="extracted.orders.wsgi.application",
    title="Orders service API",
    description="Orders placed through a checkout saga (reserve stock, take payment, confirm); "
    "the same public paths and shapes as the monolith's orders. POST answers 201 with the order "
    "`pending` and a Location to poll (or waits up to `Prefer: wait=N` seconds for the outcome). "
    "Every error is RFC 9457 problem+json.",
)
globals().update(_settings)
# The shop's event topology (exchange, queue per consumer): the plumbing is given it here.
SERVICEKIT_EVENTS = dict(topology.SERVICEKIT_EVENTS)

OWNERSHIP_FILE = env_str("OWNERSHIP_FILE", "")
# `manage.py reconcile`: this copy against the other side (servicekit/migration/reconcile.py)
globals().update(
    reconcile_settings(adapters=["extracted.orders.orders.reconcile.OrderMirror"], sources={})
)
# A saga step that has not answered after this many seconds times out: reserving and paying
# compensate; confirming and compensating steps are asked again (with backoff).
SAGA_STEP_TIMEOUT = float(env_str("SAGA_STEP_TIMEOUT", "30"))
SAGA_SWEEP_INTERVAL = float(env_str("SAGA_SWEEP_INTERVAL", "1"))
# The fake payment provider: what it does when an order gives no instruction, and whether a
# client may instruct it per order with the `X-Fake-Payment` header (never in production).
FAKE_PAYMENT_DEFAULT = env_str("FAKE_PAYMENT_DEFAULT", "succeed")
FAKE_PAYMENT_TEST_HOOKS = env_bool(
    "FAKE_PAYMENT_TEST_HOOKS", default=_settings["ENVIRONMENT"] != "production"
)
# The catalog quote when a checkout starts (orders/catalog_gateway.py): current prices and stock
# asked of the catalog service, over REST (its HTTP process) or gRPC (its catalog-grpc process).
ORDERS_CATALOG_TRANSPORT = env_str("ORDERS_CATALOG_TRANSPORT", "rest")
if ORDERS_CATALOG_TRANSPORT not in ("rest", "grpc"):
    raise ValueError(f"ORDERS_CATALOG_TRANSPORT is rest or grpc, not {ORDERS_CATALOG_TRANSPORT!r}")
ORDERS_CATALOG_URL = env_str("STRANGLER_CATALOG_URL", "http://127.0.0.1:8002")
ORDERS_CATALOG_GRPC_TARGET = env_str("ORDERS_CATALOG_GRPC_TARGET", "127.0.0.1:50051")
# The whole call's budget in seconds (HTTP read timeout, gRPC deadline).
ORDERS_CATALOG_DEADLINE = float(env_str("ORDERS_CATALOG_DEADLINE", "1.0"))
