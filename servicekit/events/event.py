"""The base every event payload extends: a frozen dataclass that names its type and aggregate."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class Event:
    """An event payload. `event_type` carries the version: `catalog.product_updated.v1`."""

    event_type: ClassVar[str]
    aggregate_type: ClassVar[str]

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError

    def to_payload(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists), equal to what comes back off the wire."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        unknown = payload.keys() - _field_names(cls)
        if unknown:
            raise ValueError(f"{cls.event_type}: unknown fields {sorted(unknown)}")
        return cls(**payload)


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
