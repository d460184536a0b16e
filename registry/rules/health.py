"""Pure checks of what callers store about a model's health: alerts, drift reports and
retraining runs (bounded texts, enum values, JSON details, counts, pages, durations)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from registry.entities import AlertSeverity, RetrainingState
from registry.errors import InvalidArgumentError, RegistryError
from registry.rules.values import (
    MAX_ID,
    MAX_INT64,
    MAX_RETENTION,
    bounded_document,
    check_text,
    shown,
)

MAX_KEY_CHARS = 200  # an alert's key
MAX_KIND_CHARS = 32  # an alert's kind, a run's trigger, a drift check's name
MAX_MESSAGE_CHARS = 2000  # messages, summaries, reasons, notes, errors
MAX_MODEL_CHARS = 128  # a model name (the models table's bound)
MAX_VERSION_CHARS = 64  # a version string (the model_versions table's bound)
MAX_DETAILS_BYTES = 256 * 1024  # the JSON of one ``details`` document
MAX_DRIFT_KINDS = 16
MAX_PAGE = 1000
#: The longest cooldown or staleness: "now" minus it is always a valid datetime.
MAX_DURATION = MAX_RETENTION

KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_KIND = re.compile(KIND_PATTERN)

#: Severities from least to most urgent; an open alert takes the most urgent it was raised at.
SEVERITY_ORDER: tuple[AlertSeverity, ...] = (
    AlertSeverity.INFO,
    AlertSeverity.WARNING,
    AlertSeverity.CRITICAL,
)
#: States a retraining run may finish in.
FINISHED: frozenset[RetrainingState] = frozenset(RetrainingState) - {RetrainingState.RUNNING}


def check_label(value: object, what: str) -> str:
    """Return ``value`` if it is lower snake case of 1-32 characters, else raise.

    >>> check_label("arm_errors", "kind")
    'arm_errors'
    >>> check_label("Data-Drift", "kind")
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: invalid kind 'Data-Drift': expected lower snake \
case, 1-32 characters from a-z 0-9 _, starting with a letter
    """
    if not isinstance(value, str) or not _KIND.fullmatch(value):
        raise InvalidArgumentError(
            f"invalid {what} {shown(value)}: expected lower snake case, 1-32 characters "
            "from a-z 0-9 _, starting with a letter"
        )
    return value


def check_key(value: object) -> str:
    """Return an alert key: a non-empty string of at most MAX_KEY_CHARS characters.

    >>> check_key("drift:data:btc:1.2.0")
    'drift:data:btc:1.2.0'
    """
    key = check_text(value, "alert key", MAX_KEY_CHARS)
    if not key:
        raise InvalidArgumentError("alert key must not be empty")
    return key


def check_message(value: object, what: str) -> str:
    """Return ``value`` if it is a string of at most MAX_MESSAGE_CHARS characters."""
    return check_text(value, what, MAX_MESSAGE_CHARS)


def truncate_message(value: object) -> str:
    """Cut a text nobody controls (a failing trainer's error) to MAX_MESSAGE_CHARS.

    >>> len(truncate_message("x" * 5000))
    2000
    >>> truncate_message("short")
    'short'
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"error must be a string, got {type(value).__name__}")
    if len(value) <= MAX_MESSAGE_CHARS:
        return value
    tail = f"… ({len(value) - MAX_MESSAGE_CHARS} more characters)"
    return value[: MAX_MESSAGE_CHARS - len(tail)] + tail


def check_subject(model: object, version: object) -> tuple[str, str]:
    """Return the model and version an alert is about ("" for none), bounded.

    Raises:
        InvalidArgumentError: not strings, too long, or a version without a model.
    """
    model = check_text(model, "model", MAX_MODEL_CHARS)
    version = check_text(version, "version", MAX_VERSION_CHARS)
    if version and not model:
        raise InvalidArgumentError(f"version {version!r} is given without the model it is of")
    return model, version


def parse_severity(value: AlertSeverity | str) -> AlertSeverity:
    """Return ``value`` as an AlertSeverity.

    >>> parse_severity("critical")
    <AlertSeverity.CRITICAL: 'critical'>
    """
    try:
        return AlertSeverity(value)
    except ValueError:
        names = ", ".join(s.value for s in AlertSeverity)
        raise InvalidArgumentError(
            f"unknown alert severity {shown(value)}; expected one of {names}"
        ) from None


def at_least(severity: AlertSeverity) -> list[str]:
    """The severities as urgent as ``severity`` or more.

    >>> at_least(AlertSeverity.WARNING)
    ['warning', 'critical']
    """
    return [s.value for s in SEVERITY_ORDER[SEVERITY_ORDER.index(severity) :]]


def parse_retraining_state(value: RetrainingState | str) -> RetrainingState:
    """Return ``value`` as a RetrainingState."""
    try:
        return RetrainingState(value)
    except ValueError:
        names = ", ".join(s.value for s in RetrainingState)
        raise InvalidArgumentError(
            f"unknown retraining state {shown(value)}; expected one of {names}"
        ) from None


def check_finish_state(value: RetrainingState | str) -> RetrainingState:
    """Return the state a run finishes in; RUNNING is not one.

    >>> check_finish_state("rejected")
    <RetrainingState.REJECTED: 'rejected'>
    >>> check_finish_state("running")
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: a retraining run finishes in one of cancelled, \
failed, rejected, succeeded; 'running' is not a finished state
    """
    state = parse_retraining_state(value)
    if state not in FINISHED:
        names = ", ".join(sorted(s.value for s in FINISHED))
        raise InvalidArgumentError(
            f"a retraining run finishes in one of {names}; {state.value!r} is not a finished state"
        )
    return state


def check_details(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """Return ``value`` (None: ``{}``) as stored: a JSON object of finite numbers, at most
    MAX_DETAILS_BYTES of JSON and MAX_DEPTH levels deep.

    >>> check_details({"p": 0.01, "features": ("a", "b")}, "details")
    {'p': 0.01, 'features': ['a', 'b']}
    >>> check_details({"p": float("nan")}, "details")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: details must be JSON-serializable with finite ...
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a JSON object (a mapping), got {type(value).__name__}"
        )
    if any(not isinstance(k, str) for k in value):
        raise InvalidArgumentError(f"{what} must have string keys")
    return dict(bounded_document(value, what, MAX_DETAILS_BYTES))


def check_count(value: object, what: str) -> int:
    """Return ``value`` if it is an integer from 0 to 2**63 - 1 (not a bool).

    >>> check_count(3, "live_rows")
    3
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise InvalidArgumentError(
            f"{what} must be an integer from 0 to {MAX_INT64}, got {value!r}"
        )
    return value


def check_drift_kinds(kinds: Iterable[str], drift: object) -> list[str]:
    """Return the checks that decided drift, distinct and in the given order.

    ``drift`` must be a bool and say the same as ``kinds``: drift exactly when some check
    decided it.

    >>> check_drift_kinds(["data", "concept"], True)
    ['data', 'concept']
    >>> check_drift_kinds([], True)
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: drift=True needs the checks that decided it in \
kinds (e.g. 'data', 'performance', 'concept'), got none
    """
    if not isinstance(drift, bool):
        raise InvalidArgumentError(f"drift must be True or False, got {drift!r}")
    if isinstance(kinds, str | bytes) or not isinstance(kinds, Iterable):
        raise InvalidArgumentError(f"kinds must be a sequence of names, got {shown(kinds)}")
    names = [check_label(k, "drift kind") for k in kinds]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"kinds repeats a name: {names}")
    if len(names) > MAX_DRIFT_KINDS:
        raise InvalidArgumentError(f"kinds has {len(names)} names; at most {MAX_DRIFT_KINDS}")
    if drift and not names:
        raise InvalidArgumentError(
            "drift=True needs the checks that decided it in kinds (e.g. 'data', "
            "'performance', 'concept'), got none"
        )
    if names and not drift:
        raise InvalidArgumentError(f"drift=False, but kinds names checks that decided it: {names}")
    return names


def check_page(limit: object, before_id: object) -> tuple[int, int | None]:
    """Check a newest-first page: ``limit`` in 1..MAX_PAGE, ``before_id`` None or 1..2**63-1.

    >>> check_page(50, None)
    (50, None)
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidArgumentError(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
    if before_id is not None and (
        isinstance(before_id, bool) or not isinstance(before_id, int) or not before_id >= 1
    ):
        raise InvalidArgumentError(f"before_id must be None or an integer >= 1, got {before_id!r}")
    if before_id is not None:
        before_id = min(before_id, MAX_ID)
    return limit, before_id


def check_row_id(value: object, not_found: Callable[[int], RegistryError]) -> int:
    """Return ``value`` if it could name a stored row (1..2**63 - 1).

    Raises:
        InvalidArgumentError: not an integer.
        RegistryError: ``not_found(value)`` when out of range (it names nothing stored).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"an id must be an integer, got {shown(value)}")
    if not 0 < value <= MAX_ID:
        raise not_found(value)
    return value


def check_duration(value: object, what: str) -> timedelta:
    """Return ``value`` if it is a timedelta from zero to MAX_DURATION.

    >>> check_duration(timedelta(minutes=5), "cooldown")
    datetime.timedelta(seconds=300)
    >>> check_duration(timedelta(seconds=-1), "cooldown")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    registry.errors.InvalidArgumentError: cooldown must be a timedelta from 0 to ...
    """
    if not isinstance(value, timedelta) or not timedelta(0) <= value <= MAX_DURATION:
        raise InvalidArgumentError(
            f"{what} must be a timedelta from 0 to {MAX_DURATION.days} days, got {value!r}"
        )
    return value
