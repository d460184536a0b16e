"""A gateway's status (what it serves, what failed to load or route, its log backlog) to
and from galgate.v1 GatewayStatus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.experiments.failures import ExperimentFailure
from gateway.serving.pool import LoadFailure
from gateway.wire.common import timestamp, when

if TYPE_CHECKING:
    from gateway.predlog import PredictionLog
    from gateway.serving.pool import Pool


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """A version a gateway process has loaded: serving production, or retained."""

    name: str
    version: str
    sha256: str
    role: str


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """What one gateway process serves; ``address`` is where it was asked (CLI)."""

    serving: bool
    event_id: int
    loaded: tuple[LoadedVersion, ...]
    failures: tuple[LoadFailure, ...]
    prediction_log_queued: int
    prediction_log_dropped: int
    skipped_experiments: tuple[ExperimentFailure, ...] = ()
    address: str = ""


def status_of(pool: Pool, predlog: PredictionLog) -> GatewayStatus:
    """This process's status."""
    snapshot = pool.current
    loaded = []
    for name, route in sorted(snapshot.routes.items()):
        production = route.production.model.version if route.production else ""
        for version, model in sorted(route.versions.items()):
            role = "production" if version == production else "retained"
            loaded.append(LoadedVersion(name, version, model.sha256, role))
    return GatewayStatus(
        serving=pool.ready,
        event_id=snapshot.event_id,
        loaded=tuple(loaded),
        failures=tuple(pool.failures.values()),
        prediction_log_queued=predlog.queued,
        prediction_log_dropped=predlog.dropped,
        skipped_experiments=tuple(pool.experiment_failures.all()),
    )


def status_message(status: GatewayStatus) -> pb.GatewayStatus:
    """Encode a status."""
    return pb.GatewayStatus(
        event_id=status.event_id,
        loaded=[
            pb.LoadedVersion(name=v.name, version=v.version, sha256=v.sha256, role=v.role)
            for v in status.loaded
        ],
        failures=[
            pb.LoadFailure(
                name=f.name, version=f.version, sha256=f.sha256, error=f.error, at=timestamp(f.at)
            )
            for f in status.failures
        ],
        serving=status.serving,
        prediction_log_queued=status.prediction_log_queued,
        prediction_log_dropped=status.prediction_log_dropped,
        experiment_failures=[
            pb.ExperimentFailure(
                experiment_id=f.experiment_id,
                model=f.model,
                where=f.where,
                error=f.error,
                since=timestamp(f.at),
            )
            for f in status.skipped_experiments
        ],
    )


def status_from_message(message: pb.GatewayStatus, address: str = "") -> GatewayStatus:
    """Decode a GetStatus answer from the gateway at ``address``."""
    return GatewayStatus(
        serving=message.serving,
        event_id=message.event_id,
        loaded=tuple(LoadedVersion(v.name, v.version, v.sha256, v.role) for v in message.loaded),
        failures=tuple(
            LoadFailure(f.name, f.version, f.sha256, f.error, when(f.at)) for f in message.failures
        ),
        prediction_log_queued=message.prediction_log_queued,
        prediction_log_dropped=message.prediction_log_dropped,
        skipped_experiments=tuple(
            ExperimentFailure(f.experiment_id, f.model, f.where, f.error, when(f.since))
            for f in message.experiment_failures
        ),
        address=address,
    )
