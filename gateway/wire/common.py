"""Conversions every message family uses: timestamps, JSON of stored values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

# Request metadata naming who makes an admin change (recorded in the audit trail).
ACTOR_METADATA = "x-galgate-actor"


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp for a tz-aware datetime (None stays None)."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def when(ts: Timestamp) -> datetime:
    """The tz-aware UTC datetime of a Timestamp."""
    return ts.ToDatetime(tzinfo=UTC)


def when_set(message: Any, field: str) -> datetime | None:
    """The datetime of an optional Timestamp field, or None when it is not set."""
    return when(getattr(message, field)) if message.HasField(field) else None


def json_default(value: object) -> object:
    """What ``json.dumps`` writes for datetimes (ISO 8601), mappings and sequences."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | list):
        return list(value)
    return str(value)


def dumps(value: object) -> str:
    """Stable JSON of a stored value.

    >>> dumps({"b": (1, 2), "a": datetime(2024, 1, 2, tzinfo=UTC)})
    '{"a": "2024-01-02T00:00:00+00:00", "b": [1, 2]}'
    """
    return json.dumps(value, default=json_default, sort_keys=True)
