"""The relay as a Django app: no models of its own, it reads the outbox's; it holds the
`outbox_relay` command, so the outbox never imports the relay."""

from django.apps import AppConfig


class RelayAppConfig(AppConfig):
    name = "servicekit.events.relay"
    label = "servicekit_relay"
    verbose_name = "Event relay"
