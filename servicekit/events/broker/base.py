"""What every publisher promises the relay: the `Publisher` protocols and their results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from servicekit.events.envelope import Envelope


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached or dropped the connection: nothing is the events' fault."""


@dataclass
class PublishResult:
    confirmed: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)  # the broker refused these


@dataclass
class SentBatch:
    """A batch written to the broker whose confirms may still be on their way (`confirm`)."""

    tags: list[tuple[int, Envelope]] = field(default_factory=list)
    result: PublishResult = field(default_factory=PublishResult)  # failures found while sending
    generation: int = 0  # the connection it went out on


class Publisher(Protocol):
    def publish(self, envelopes: Sequence[Envelope]) -> PublishResult:
        """Publish in order and wait for the broker's confirms.

        Raises `BrokerUnavailable` when the connection fails; envelopes absent from both lists
        of the result were not confirmed and must be retried without blame. After an event
        fails, the later events of its aggregate in the batch are not published. (A broker nack
        arrives after later events went out: then the consumer's inbox restores the order.)
        """

    def close(self) -> None: ...


class PipelinedPublisher(Publisher, Protocol):
    """`publish` in two halves, so that the relay can claim and send the next batch while the
    broker confirms this one: `publish(batch) == confirm(send(batch))`."""

    def send(self, envelopes: Sequence[Envelope]) -> SentBatch: ...

    def confirm(self, sent: SentBatch) -> PublishResult: ...
