"""In-memory publisher for tests (like dramatiq's brokers/stub.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from servicekit.events.broker.base import BrokerUnavailable, PublishResult, SentBatch
from servicekit.events.envelope import Envelope


class StubPublisher:
    """In-memory publisher for tests (like dramatiq's StubBroker): records, fails on demand."""

    def __init__(self, *, fail_event_ids: set[uuid.UUID] | None = None, down: bool = False):
        self.published: list[Envelope] = []
        self.fail_event_ids = set(fail_event_ids or ())
        self.down = down

    def send(self, envelopes: Sequence[Envelope]) -> SentBatch:
        return SentBatch(result=self.publish(envelopes))

    def confirm(self, sent: SentBatch) -> PublishResult:
        return sent.result

    def publish(self, envelopes: Sequence[Envelope]) -> PublishResult:
        if self.down:
            raise BrokerUnavailable("stub broker is down")
        result = PublishResult()
        blocked: set[tuple[str, str]] = set()
        for envelope in envelopes:
            if envelope.aggregate_key in blocked:
                continue
            if envelope.event_id in self.fail_event_ids:
                result.failed[envelope.event_id] = "stub refused this event"
                blocked.add(envelope.aggregate_key)
            else:
                self.published.append(envelope)
                result.confirmed.append(envelope.event_id)
        return result

    def close(self) -> None:
        return None
