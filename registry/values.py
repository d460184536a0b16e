"""Checks of caller-supplied values shared by the registry's validators: numbers and JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from registry.errors import InvalidArgumentError


def is_finite_number(value: object) -> bool:
    """Tell whether ``value`` is an int or float (not a bool) and finite.

    >>> [is_finite_number(v) for v in (1, 2.5, True, float("nan"), float("inf"), "1")]
    [True, True, False, False, False, False]
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def json_document(value: Any, what: str) -> Any:
    """Return ``value`` after a JSON round trip, so what is stored is what is returned.

    Args:
        value: dicts, lists, tuples, strings, finite numbers, booleans and None.
        what: how to name the value in the message, e.g. ``"VersionSpec.tags"``.

    Returns:
        The round-tripped value (tuples become lists).

    Raises:
        InvalidArgumentError: something JSON cannot hold, or a NaN or infinity.

    >>> json_document({"n": (1, 2)}, "x")
    {'n': [1, 2]}
    >>> json_document({"n": float("nan")}, "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: x must be JSON-serializable with finite numbers: ...
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{what} must be JSON-serializable with finite numbers: {exc}"
        ) from exc
