"""Notifications service settings: the shared service defaults, its mail, who owns notifications."""

from contracts import topology
from extracted.notifications.notifications.emails import order_email_switch
from servicekit.web.django_defaults import reconcile_settings
from servicekit.web.env import ImproperlyConfiguredEnv, env_str
from servicekit.web.service_settings import service_settings

_settings = service_settings(
    service_name="notifications",
    apps=["extracted.notifications.notifications"],
    urlconf="extracted.notifications.urls",
    wsgi="extracted.notifications.wsgi.application",
    title="Notifications service API",
    description="A user's in-app notifications (list, mark read, read all); the same public "
    "paths and shapes as the monolith's. Every error is RFC 9457 problem+json.",
)
globals().update(_settings)
# The shop's event topology (exchange, queue per consumer): the plumbing is given it here.
SERVICEKIT_EVENTS = dict(topology.SERVICEKIT_EVENTS)

OWNERSHIP_FILE = env_str("OWNERSHIP_FILE", "")
# `manage.py reconcile`: this copy against the other side (servicekit/migration/reconcile.py)
globals().update(
    reconcile_settings(
        adapters=["extracted.notifications.notifications.reconcile.NotificationMirror"], sources={}
    )
)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(_settings["DATA_DIR"] / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@strangler.local")
# Who emails an order event's customer: this service, or the order-email function
# (functions/order_email reads the same two variables); see emails.OrderEmailSwitch. With
# `function` the service still makes, publishes and serves the notification, and emails nothing.
try:
    NOTIFICATIONS_ORDER_EMAIL = order_email_switch(
        env_str("NOTIFICATIONS_ORDER_EMAIL", "service"),
        env_str("NOTIFICATIONS_ORDER_EMAIL_SINCE", ""),
    )
except ValueError as exc:
    raise ImproperlyConfiguredEnv(str(exc)) from exc
