"""Echo protection: a change applied from another service's event is not emitted back to it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from servicekit.events.envelope import Envelope

_applying: ContextVar[Envelope | None] = ContextVar("servicekit_applying_event", default=None)


@contextlib.contextmanager
def applying_event(envelope: Envelope) -> Iterator[None]:
    """Mark the code inside as applying `envelope` (the inbox wraps every handler in this)."""
    token = _applying.set(envelope)
    try:
        yield
    finally:
        _applying.reset(token)


def current_applied_event() -> Envelope | None:
    return _applying.get()


def is_echo(*, aggregate_type: str, aggregate_id: str, service: str) -> bool:
    """True when this write to the aggregate only mirrors another service's change to it."""
    applied = _applying.get()
    return (
        applied is not None
        and applied.origin != service
        and applied.aggregate_type == aggregate_type
        and applied.aggregate_id == aggregate_id
    )
