# --- added by tests/adopt: wagtail's own read API (its documented set-up) and the export key
INSTALLED_APPS += ["wagtail.api.v2", "rest_framework"]  # noqa: F821
STRANGLER_EXPORT_TOKEN = "export-token-for-the-backfill"
