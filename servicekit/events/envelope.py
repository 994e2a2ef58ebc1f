"""The event envelope: identity, ordering and tracing metadata around a versioned payload."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from typing import Any

ENVELOPE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Envelope:
    """What travels on the wire. `event_type` carries the payload version (`...v1`).

    `sequence` is per aggregate (`aggregate_type`, `aggregate_id`), starting at 1 with no gaps;
    `origin` names the service whose own change this is (echo protection);
    `traceparent`/`tracestate` are W3C trace context, `correlation_id` the original request id.
    """

    event_id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    origin: str
    payload: dict[str, Any]
    correlation_id: str = ""
    traceparent: str = ""
    tracestate: str = ""

    @property
    def aggregate_key(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)

    @property
    def type_name(self) -> str:
        """The event type without its version: `catalog.product_updated`."""
        return split_event_type(self.event_type)[0]

    @property
    def version(self) -> int:
        return split_event_type(self.event_type)[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "envelope_version": ENVELOPE_VERSION,
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.isoformat(),
            "origin": self.origin,
            "correlation_id": self.correlation_id,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        version = data.get("envelope_version", ENVELOPE_VERSION)
        if version != ENVELOPE_VERSION:
            raise ValueError(f"unsupported envelope version {version!r}")
        occurred_at = datetime.fromisoformat(data["occurred_at"])
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone")
        return cls(
            event_id=uuid.UUID(str(data["event_id"])),
            event_type=str(data["event_type"]),
            aggregate_type=str(data["aggregate_type"]),
            aggregate_id=str(data["aggregate_id"]),
            sequence=int(data["sequence"]),
            occurred_at=occurred_at,
            origin=str(data["origin"]),
            correlation_id=str(data.get("correlation_id") or ""),
            traceparent=str(data.get("traceparent") or ""),
            tracestate=str(data.get("tracestate") or ""),
            payload=dict(data["payload"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        return cls.from_dict(json.loads(text))


def split_event_type(event_type: str) -> tuple[str, int]:
    """`catalog.product_updated.v2` -> (`catalog.product_updated`, 2)."""
    name, _, version = event_type.rpartition(".")
    if not name or not version.startswith("v") or not version[1:].isdigit():
        raise ValueError(f"event type {event_type!r} must end with a version such as .v1")
    return name, int(version[1:])


def now_utc() -> datetime:
    return datetime.now(UTC)
