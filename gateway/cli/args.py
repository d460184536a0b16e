"""Argument value types for the `galgate` parser: each turns one flag's text into a value."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def address(value: str) -> str:
    """A HOST:PORT address to call or listen on (IPv6 hosts in brackets).

    >>> address("[::1]:50051")
    '[::1]:50051'
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def sqlite_url(value: str) -> str:
    """A SQLAlchemy URL, or a plain file path meaning an embedded SQLite database.

    >>> sqlite_url("g.db"), sqlite_url("postgresql+asyncpg://db/x")
    ('sqlite+aiosqlite:///g.db', 'postgresql+asyncpg://db/x')
    """
    return value if "://" in value else f"sqlite+aiosqlite:///{value}"


def event_id(text: str) -> int:
    """A registry event id, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an event id (0 or more), got {text!r}")
    return int(text)


def experiment_id(text: str) -> int:
    """An experiment id as `experiments list` shows it."""
    if not text.isdigit() or int(text) < 1 or int(text) >= 2**63:
        raise argparse.ArgumentTypeError(f"expected an experiment id (1 or more), got {text!r}")
    return int(text)


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def feature_values(text: str) -> dict[str, float]:
    """Parse --features 'a=1,b=2.5' into a mapping.

    >>> feature_values("a=1, b=2.5")
    {'a': 1.0, 'b': 2.5}
    """
    values: dict[str, float] = {}
    for pair in text.split(","):
        key, sep, raw = pair.strip().partition("=")
        key = key.strip()
        try:
            if not sep or not key:
                raise ValueError
            values[key] = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected NAME=NUMBER[,NAME=NUMBER...], got {pair.strip()!r}"
            ) from None
    return values


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return value


def _finite_where(accept: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """A finite-number type that also refuses values ``accept`` rejects."""

    def parse(text: str) -> float:
        value = _finite(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


open_fraction = _finite_where(lambda v: 0.0 < v < 1.0, "a number between 0 and 1")
"""A number strictly between 0 and 1."""
epsilon = _finite_where(lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")
"""An exploration rate in (0, 1]: 0 would mean "default" on the wire."""
non_negative = _finite_where(lambda v: v >= 0.0, "a number >= 0")
positive = _finite_where(lambda v: v > 0.0, "a number > 0")


def end_time(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset; naive times are ambiguous.

    >>> end_time("2025-07-01T18:00:00+02:00")
    datetime.datetime(2025, 7, 1, 16, 0, tzinfo=datetime.timezone.utc)
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2025-07-01T16:00:00Z, got {text!r}"
        ) from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"give the time with a UTC offset (Z or +HH:MM), got {text!r}"
        )
    return value.astimezone(UTC)


def duration(text: str) -> timedelta:
    """A time span such as 90m, 2h, 1.5d or 1h30m.

    >>> duration("1h30m"), duration("2d")
    (datetime.timedelta(seconds=5400), datetime.timedelta(days=2))
    """
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text.strip().lower())
    rebuilt = "".join(number + unit for number, unit in parts)
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not parts or rebuilt != text.strip().lower() or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a span such as 90m, 2h or 1d12h (units s, m, h, d, w), got {text!r}"
        )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"the span {text!r} is too long") from None
