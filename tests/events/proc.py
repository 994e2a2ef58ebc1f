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
    """Sends every batch shuffled, with about a fifth of its events twice, through the real
    publisher's pipelined halves (`send`, then `confirm`), the path the relay takes in
    production. Seeded (SK_CHAOS_SEED), and it writes what it injected to SK_CHAOS_LOG (one JSON
    line per batch: the duplicated event ids, and the events sent before an earlier event of
    their aggregate), so a test can check the chaos really happened."""

    def __init__(self, inner, *, seed: int = 0, log_path: str | None = None):
        self.inner = inner
        self.random = random.Random(seed)
        self.log_path = log_path

    def _disorder(self, envelopes):
        duplicated = [e for e in envelopes if self.random.random() < 0.2]
        batch = list(envelopes) + duplicated
        self.random.shuffle(batch)
        highest: dict = {}
        reordered = []
        for envelope in batch:
            if envelope.sequence < highest.get(envelope.aggregate_key, 0):
                reordered.append(str(envelope.event_id))
            highest[envelope.aggregate_key] = max(
                envelope.sequence, highest.get(envelope.aggregate_key, 0)
            )
        if self.log_path:
            line = {"duplicated": [str(e.event_id) for e in duplicated], "reordered": reordered}
            with open(self.log_path, "a") as log:
                log.write(json.dumps(line) + "\n")
        return batch

    def send(self, envelopes):
        return self.inner.send(self._disorder(envelopes))

    def confirm(self, sent):
        return self.inner.confirm(sent)

    def publish(self, envelopes):
        return self.confirm(self.send(envelopes))

    def close(self):
        self.inner.close()


class PublishLog:
    """Wraps a publisher: appends how many events this relay process got confirmed, per batch,
    to a file (SK_PUBLISHED_LOG), so a test can tell which relays published."""

    def __init__(self, inner, path: str):
        self.inner = inner
        self.path = path
        with open(self.path, "a") as log:
            log.write(json.dumps({"relay": os.getpid(), "confirmed": 0, "ready": True}) + "\n")

    def _record(self, result):
        with open(self.path, "a") as log:
            log.write(json.dumps({"relay": os.getpid(), "confirmed": len(result.confirmed)}) + "\n")
        return result

    def send(self, envelopes):
        return self.inner.send(envelopes)

    def confirm(self, sent):
        return self._record(self.inner.confirm(sent))

    def publish(self, envelopes):
        return self._record(self.inner.publish(envelopes))

    def close(self):
        self.inner.close()


class ArrivalLog:
    """Wraps the consumer's processor: appends each envelope that reaches the inbox, in arrival
    order, to a file (SK_ARRIVALS_LOG), before the inbox sorts duplicates and order out."""

    def __init__(self, process, path: str):
        self._process = process
        self.path = path

    def __call__(self, envelopes):
        with open(self.path, "a") as log:
            for e in envelopes:
                log.write(json.dumps([str(e.event_id), e.aggregate_id, e.sequence]) + "\n")
        return self._process(envelopes)


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
            publisher = ChaosPublisher(
                publisher,
                seed=int(os.environ.get("SK_CHAOS_SEED", "0")),
                log_path=os.environ.get("SK_CHAOS_LOG"),
            )
        if os.environ.get("SK_PUBLISHED_LOG"):
            publisher = PublishLog(publisher, os.environ["SK_PUBLISHED_LOG"])
        Relay(publisher=publisher, config=config).run(waker=waker, stop=stop)
    elif role == "consume":
        from servicekit.events.inbox.worker import worker_from_settings
        from tests.events.support import test_consumer

        worker = worker_from_settings(test_consumer().name)
        if os.environ.get("SK_ARRIVALS_LOG"):
            worker.processor.process = ArrivalLog(
                worker.processor.process, os.environ["SK_ARRIVALS_LOG"]
            )
        worker.run(stop=stop)
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv[1])
