"""An alert as a JSON document: the one shape every sink sends or logs.

>>> from datetime import UTC, datetime
>>> from registry.entities import Alert, AlertSeverity
>>> at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
>>> alert = Alert(7, "drift:data:btc:1.2.0", "drift", AlertSeverity.WARNING, "btc", "1.2.0",
...               "data drift on btc 1.2.0", {"psi": float("nan"), "features": ("a", "b")},
...               at, at, 3)
>>> doc = alert_document(alert)
>>> doc["source"], doc["severity"], doc["created_at"], doc["details"]
('galgate', 'warning', '2026-01-02T03:04:05+00:00', {'psi': None, 'features': ['a', 'b']})
>>> to_json(doc)[:40]
'{"source": "galgate", "id": 7, "key": "d'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from registry.entities import Alert

SOURCE = "galgate"


def alert_document(alert: Alert) -> dict[str, Any]:
    """The JSON object of one alert (the webhook body; see ``gateway/alerts/webhook.py``).

    Args:
        alert: the alert.

    Returns:
        A dict of JSON values only: timestamps as ISO-8601 strings (naive ones taken as
        UTC), ``details`` made JSON-safe by :func:`jsonable`.
    """
    return {
        "source": SOURCE,
        "id": alert.id,
        "key": alert.key,
        "kind": alert.kind,
        "severity": str(alert.severity),
        "model": alert.model,
        "version": alert.version,
        "message": alert.message,
        "details": jsonable(alert.details),
        "created_at": _iso(alert.created_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "count": alert.count,
    }


def to_json(document: Mapping[str, Any]) -> str:
    """Strict JSON text (no NaN or Infinity) of a document made by :func:`alert_document`."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False)


def jsonable(value: Any) -> Any:
    """``value`` as JSON values: NaN and infinities become null, tuples and sets lists,
    datetimes ISO-8601 strings, mapping keys strings, anything else unknown its ``str``.

    Evidence in ``details`` comes from statistics (a p-value may be NaN) and must never
    make an alert undeliverable.

    >>> jsonable({1: [float("inf"), 2.5, None, True], "s": {3}})
    {'1': [None, 2.5, None, True], 's': [3]}
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays
        try:
            return jsonable(value.tolist())
        except Exception:
            pass
    return str(value)


def _iso(at: datetime) -> str:
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()
