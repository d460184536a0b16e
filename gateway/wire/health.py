"""Drift reports and alerts <-> protobuf (ModelAdmin and the CLI through a gateway)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.brief import brief
from gateway.errors import InvalidInputError
from gateway.wire.common import dumps, timestamp, when, when_set
from registry.entities import Alert, AlertSeverity, DriftReport, RetrainingRun, RetrainingState

# Most items one list reply asks the registry for.
MAX_LIST = 1000
DEFAULT_REPORTS = 50
DEFAULT_ALERTS = 100

T = TypeVar("T")
M = TypeVar("M")


def list_limit(requested: int, default: int) -> int:
    """The number of items a list call reads: the request's (0: the default), at most
    MAX_LIST.

    >>> list_limit(0, 50), list_limit(7, 50), list_limit(5000, 50)
    (50, 7, 1000)
    """
    return min(requested or default, MAX_LIST)


def parse_severity(text: str) -> AlertSeverity:
    """An AlertSeverity from its name; INVALID_ARGUMENT listing the severities otherwise.

    >>> parse_severity("Warning").value
    'warning'
    """
    try:
        return AlertSeverity(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown severity {brief(text)}; expected one of {[s.value for s in AlertSeverity]}"
        ) from None


def drift_report_info(r: DriftReport) -> pb.DriftReportInfo:
    """Encode one drift report."""
    return pb.DriftReportInfo(
        id=r.id,
        model=r.model,
        version=r.version,
        created_at=timestamp(r.created_at),
        drift=r.drift,
        kinds=list(r.kinds),
        live_rows=r.live_rows,
        outcomes=r.outcomes,
        summary=r.summary,
        details_json=dumps(dict(r.details)),
    )


def drift_report(info: pb.DriftReportInfo) -> DriftReport:
    """Inverse of :func:`drift_report_info`."""
    return DriftReport(
        id=info.id,
        model=info.model,
        version=info.version,
        created_at=when(info.created_at),
        drift=info.drift,
        kinds=tuple(info.kinds),
        live_rows=info.live_rows,
        outcomes=info.outcomes,
        summary=info.summary,
        details=json.loads(info.details_json) if info.details_json else {},
    )


def alert_info(a: Alert) -> pb.AlertInfo:
    """Encode one alert."""
    return pb.AlertInfo(
        id=a.id,
        key=a.key,
        kind=a.kind,
        severity=a.severity.value,
        model=a.model,
        version=a.version,
        message=a.message,
        details_json=dumps(dict(a.details)),
        created_at=timestamp(a.created_at),
        last_seen_at=timestamp(a.last_seen_at),
        count=a.count,
        acknowledged_at=timestamp(a.acknowledged_at),
        acknowledged_by=a.acknowledged_by,
        acknowledgement=a.acknowledgement,
    )


def alert(info: pb.AlertInfo) -> Alert:
    """Inverse of :func:`alert_info`."""
    return Alert(
        id=info.id,
        key=info.key,
        kind=info.kind,
        severity=AlertSeverity(info.severity),
        model=info.model,
        version=info.version,
        message=info.message,
        details=json.loads(info.details_json) if info.details_json else {},
        created_at=when(info.created_at),
        last_seen_at=when(info.last_seen_at),
        count=info.count,
        acknowledged_at=when_set(info, "acknowledged_at"),
        acknowledged_by=info.acknowledged_by,
        acknowledgement=info.acknowledgement,
    )


def parse_run_state(text: str) -> RetrainingState:
    """A RetrainingState from its name; INVALID_ARGUMENT listing the states otherwise.

    >>> parse_run_state("Failed").value
    'failed'
    """
    try:
        return RetrainingState(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown retraining state {brief(text)}; expected one of "
            f"{[s.value for s in RetrainingState]}"
        ) from None


def run_info(r: RetrainingRun) -> pb.RetrainingRunInfo:
    """Encode one retraining run."""
    return pb.RetrainingRunInfo(
        id=r.id,
        model=r.model,
        state=r.state.value,
        trigger=r.trigger,
        reason=r.reason,
        parent_version=r.parent_version,
        owner=r.owner,
        started_at=timestamp(r.started_at),
        heartbeat_at=timestamp(r.heartbeat_at),
        finished_at=timestamp(r.finished_at),
        new_version=r.new_version,
        experiment_id=r.experiment_id,
        error=r.error,
        details_json=dumps(dict(r.details)),
    )


def run(info: pb.RetrainingRunInfo) -> RetrainingRun:
    """Inverse of :func:`run_info`."""
    return RetrainingRun(
        id=info.id,
        model=info.model,
        state=RetrainingState(info.state),
        trigger=info.trigger,
        reason=info.reason,
        parent_version=info.parent_version,
        owner=info.owner,
        started_at=when(info.started_at),
        heartbeat_at=when(info.heartbeat_at),
        finished_at=when_set(info, "finished_at"),
        new_version=info.new_version,
        experiment_id=info.experiment_id if info.HasField("experiment_id") else None,
        error=info.error,
        details=json.loads(info.details_json) if info.details_json else {},
    )


def within_budget(items: Iterable[T], encode: Callable[[T], M], budget: int) -> Sequence[M]:
    """Encoded items, in order, as many as fit in ``budget`` bytes (at least one): the
    caller pages on with the last one's id.

    >>> within_budget([1, 2, 3], lambda i: pb.AlertInfo(id=i, message="x" * 100), 230)[-1].id
    2
    """
    out: list[M] = []
    used = 0
    for item in items:
        message = encode(item)
        size = message.ByteSize() + 8  # the field's tag and length
        if out and used + size > budget:
            break
        out.append(message)
        used += size
    return out
