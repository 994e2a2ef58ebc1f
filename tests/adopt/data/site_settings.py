# --- added by tests/adopt: wagtail's own read API (its documented set-up) and the export key
INSTALLED_APPS += ["wagtail.api.v2", "rest_framework"]  # noqa: F821
STRANGLER_EXPORT_TOKEN = "export-token-for-the-backfill"
# the outbox and its relay (servicekit), on kombu's filesystem broker in a folder beside the site
from servicekit.web.env import filesystem_broker_options  # noqa: E402

INSTALLED_APPS += ["servicekit.events.outbox", "servicekit.events.relay"]
SERVICE_NAME = "monolith"
SERVICEKIT_EVENTS = {
    "SERVICE": "monolith",
    "BROKER_URL": "filesystem://",
    "TRANSPORT_OPTIONS": filesystem_broker_options(
        environ={"STRANGLER_DATA_DIR": str(BASE_DIR / "events")}  # noqa: F821
    ),
    "EXCHANGE": "adopt.events",
    "SUBSCRIPTIONS": {"pages-service": ("records.#",)},
    "RELAY_POLL_INTERVAL": 0.05,
}
