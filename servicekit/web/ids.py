"""Database ids in query parameters: bounded to what a 64-bit signed column holds.

An id past that bound can name no row, but a filter or cursor comparison sends it to the
database, where SQLite refuses it (OverflowError, a 500). Bounded in the serializer, it is a 400
naming the parameter. (Exact lookups, such as ids in paths, Django already answers as no row.)
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

MAX_ID = 2**63 - 1


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """An integer query parameter naming a row: 1 to MAX_ID unless `min_value` says otherwise."""
    kwargs.setdefault("min_value", 1)
    return serializers.IntegerField(max_value=MAX_ID, **kwargs)
