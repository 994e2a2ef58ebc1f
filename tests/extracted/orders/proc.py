"""One process of the saga fault tests: `python -m tests.extracted.orders.proc <role> [consumer]`.

Roles: `relay`, `chaos-relay` (publishes shuffled, some twice), `consume <consumer>`, `sweep`.
The service is DJANGO_SETTINGS_MODULE's; SK_TEST_DB_NAME (optional) names its database and
SK_EVENTS_JSON its SERVICEKIT_EVENTS; SK_QUEUE_TAG makes the queue names private to the run
(the broker is shared): consumer `orders` reads queue `orders@<tag>` and keeps its inbox
under its own name.
"""

from __future__ import annotations

import json
import os
import sys


def main(role: str, consumer: str = "") -> None:
    import django
    from django.conf import settings

    if os.environ.get("SK_TEST_DB_NAME"):
        settings.DATABASES["default"]["NAME"] = os.environ["SK_TEST_DB_NAME"]
    settings.SERVICEKIT_EVENTS = json.loads(os.environ["SK_EVENTS_JSON"])
    django.setup()

    from servicekit.web.commands import stop_on_signals

    stop = stop_on_signals()
    if role in ("relay", "chaos-relay"):
        from servicekit.events.broker.kombu import publisher_from_settings
        from servicekit.events.relay.relay import Relay, RelayConfig, waker_for_default_database

        publisher = publisher_from_settings()
        if role == "chaos-relay":
            from tests.events.proc import ChaosPublisher

            publisher = ChaosPublisher(publisher)
        waker = waker_for_default_database(settings.SERVICEKIT_EVENTS["RELAY_POLL_INTERVAL"])
        Relay(publisher=publisher, config=RelayConfig.from_settings()).run(waker=waker, stop=stop)
    elif role == "consume":
        from servicekit.events.inbox.registry import EventConsumer, get_consumer
        from servicekit.events.inbox.worker import worker_from_settings

        # A private queue name, but the inbox records (cursors, seen events) under the real
        # consumer's name, as in production: backfills seed those.
        private = EventConsumer(f"{consumer}@{os.environ['SK_QUEUE_TAG']}")
        worker = worker_from_settings(private.name)
        worker.processor.consumer = get_consumer(consumer)
        worker.run(stop=stop)
    elif role == "sweep":
        from extracted.orders.orders.saga import saga_sweep

        while not stop.is_set():
            if saga_sweep() == 0:
                stop.wait(0.2)
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(*sys.argv[1:])
