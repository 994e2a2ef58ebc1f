"""A relay or a test consumer as its own process, for the cross-process and fault tests.

`python -m tests.events.proc relay|consume`, with SK_TEST_DB_NAME (the test database) and
SK_EVENTS_JSON (the test's SERVICEKIT_EVENTS) in the environment.
"""

from __future__ import annotations

import json
import os
import random
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")


class ChaosPublisher:
    """Publishes every batch shuffled, with about a fifth of its events twice."""

    def __init__(self, inner):
        self.inner = inner

    def publish(self, envelopes):
        batch = list(envelopes) + [e for e in envelopes if random.random() < 0.2]
        random.shuffle(batch)
        return self.inner.publish(batch)

    def close(self):
        self.inner.close()


def main(role: str) -> None:
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["SK_TEST_DB_NAME"]
    settings.SERVICEKIT_EVENTS = json.loads(os.environ["SK_EVENTS_JSON"])
    django.setup()

    from servicekit.web.commands import stop_on_signals

    stop = stop_on_signals()
    if role in ("relay", "chaos-relay"):
        from servicekit.events.broker.kombu import publisher_from_settings
        from servicekit.events.relay.relay import Relay, RelayConfig, waker_for_default_database

        config = RelayConfig.from_settings()
        waker = waker_for_default_database(settings.SERVICEKIT_EVENTS["RELAY_POLL_INTERVAL"])
        publisher = publisher_from_settings()
        if role == "chaos-relay":
            publisher = ChaosPublisher(publisher)
        Relay(publisher=publisher, config=config).run(waker=waker, stop=stop)
    elif role == "consume":
        from servicekit.events.inbox.worker import worker_from_settings
        from tests.events.support import CONSUMER, test_consumer

        test_consumer()
        worker_from_settings(CONSUMER).run(stop=stop)
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv[1])
