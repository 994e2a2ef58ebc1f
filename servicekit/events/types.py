"""Event types by name, and the upcasters that lift an older version to the current one.

Pure (no Django). A project builds one `EventTypes` from its own contract classes and passes it
to its consumers (`EventConsumer(name, event_types=...)`); the plumbing imports no contracts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from servicekit.events.envelope import Envelope, split_event_type
from servicekit.events.event import Event

__all__ = ["EventTypes", "Payload", "UnknownEventType", "Upcaster"]

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class UnknownEventType(LookupError):
    """No contract class (and no upcaster) for this event type."""


class EventTypes:
    """Every known event class by type, and `upcasters`: old type -> (next type, transform).

    Keep an upcaster for one release after the producer switched to the newer version, then
    delete it together with the old class.
    """

    def __init__(
        self,
        classes: Iterable[type[Event]] = (),
        upcasters: Mapping[str, tuple[str, Upcaster]] | None = None,
    ):
        self.by_type: dict[str, type[Event]] = {cls.event_type: cls for cls in classes}
        self.upcasters: dict[str, tuple[str, Upcaster]] = dict(upcasters or {})

    def event_class(self, event_type: str) -> type[Event]:
        try:
            return self.by_type[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def latest_type(self, event_type: str) -> str:
        """The newest version known for `event_type`'s name (`...v1` -> `...v2`)."""
        while event_type in self.upcasters:
            event_type = self.upcasters[event_type][0]
        return event_type

    def upcast(self, event_type: str, payload: Payload) -> tuple[str, Payload]:
        """Lift a payload through every upcaster until it reaches the newest known version."""
        while event_type in self.upcasters:
            next_type, transform = self.upcasters[event_type]
            payload = transform(payload)
            event_type = next_type
        return event_type, payload

    def decode(self, envelope: Envelope) -> Event:
        """The envelope's payload as the newest contract class of its event type."""
        event_type, payload = self.upcast(envelope.event_type, envelope.payload)
        return self.event_class(event_type).from_payload(payload)

    def type_names(self) -> set[str]:
        return {split_event_type(t)[0] for t in self.by_type}
