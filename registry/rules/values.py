"""Checks of caller-supplied values shared by the registry's validators: numbers and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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


# Bounds on what a caller may store, so that no reply built from stored rows can grow
# past a gRPC message and no stored document can break a later read.
MAX_LABEL_CHARS = 256  # model_type, target, trained_by, actors, tag keys and values, names
MAX_TEXT_CHARS = 4096  # descriptions and reasons
MAX_TAGS = 64
MAX_DOCUMENT_BYTES = 64 * 1024  # each JSON mapping of a spec (hyperparameters, metrics, ...)
MAX_SIGNATURE_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_INT64 = 2**63 - 1


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages.

    >>> shown("x" * 100, limit=5)
    "'xxx… (98 more characters)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text) - limit + 1} more characters)"


def check_text(value: object, what: str, limit: int) -> str:
    """Return ``value`` if it is a string of at most ``limit`` characters, else raise.

    >>> check_text("ok", "reason", 4)
    'ok'
    >>> check_text("toolong", "reason", 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: reason has 7 characters; at most 4 are allowed
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidArgumentError(
            f"{what} has {len(value)} characters; at most {limit} are allowed"
        )
    return value


def depth(value: Any) -> int:
    """How deeply mappings and sequences nest in ``value`` (without recursion).

    >>> depth(1), depth([1]), depth({"a": [{"b": 1}]})
    (0, 1, 3)
    """
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, Mapping):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, level + 1) for v in item)
    return deepest


def bounded_document(value: Any, what: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """:func:`json_document`, refusing nesting deeper than MAX_DEPTH and more than
    ``max_bytes`` of JSON.

    Raises:
        InvalidArgumentError: too deep, too big, or not a JSON document.
    """
    if depth(value) > MAX_DEPTH:
        raise InvalidArgumentError(f"{what} nests deeper than {MAX_DEPTH} levels")
    document = json_document(value, what)
    size = len(json.dumps(document).encode())
    if size > max_bytes:
        raise InvalidArgumentError(
            f"{what} takes {size} bytes of JSON; at most {max_bytes} are allowed"
        )
    return document


def number_mapping(value: Any, what: str) -> None:
    """Check that ``value`` maps strings to finite numbers (metrics, importances).

    Raises:
        InvalidArgumentError: a key that is not a string or a value that is not a number.
    """
    for key, number in dict(value).items():
        if not isinstance(key, str) or not is_finite_number(number):
            raise InvalidArgumentError(
                f"{what} must map names to finite numbers; {shown(key)} maps to {shown(number)}"
            )


def check_audit(actor: object, reason: object) -> None:
    """Check the who and why of an audited change.

    Raises:
        InvalidArgumentError: an actor over MAX_LABEL_CHARS or a reason over
            MAX_TEXT_CHARS characters (or not strings).
    """
    check_text(actor, "actor", MAX_LABEL_CHARS)
    check_text(reason, "reason", MAX_TEXT_CHARS)


#: The largest id a stored row can have (BIGINT); a larger one names nothing stored.
MAX_ID = 2**63 - 1

#: The longest retention of the prediction log: a century keeps everything a database
#: can hold anyway, and "now" minus it is always a valid datetime.
MAX_RETENTION = timedelta(days=100 * 366)


def as_utc(value: datetime | None) -> datetime | None:
    """Return ``value`` as tz-aware UTC; naive datetimes are taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
