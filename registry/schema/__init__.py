"""ORM tables of the registry database; rows never leave the registry package."""

from registry.schema.base import SCHEMA_VERSION, Base, Id, MetaRow, UTCDateTime, utcnow
from registry.schema.catalog import (
    ArtifactRow,
    EventRow,
    ModelRow,
    ModelVersionRow,
    StageTransitionRow,
)
from registry.schema.experiments import ExperimentLookRow, ExperimentRow, ExperimentTransitionRow
from registry.schema.health import AlertRow, DriftReportRow, RetrainingRunRow
from registry.schema.predictions import OutcomeRow, PredictionRow

__all__ = [
    "SCHEMA_VERSION",
    "AlertRow",
    "ArtifactRow",
    "Base",
    "DriftReportRow",
    "EventRow",
    "ExperimentLookRow",
    "ExperimentRow",
    "ExperimentTransitionRow",
    "Id",
    "MetaRow",
    "ModelRow",
    "ModelVersionRow",
    "OutcomeRow",
    "PredictionRow",
    "RetrainingRunRow",
    "StageTransitionRow",
    "UTCDateTime",
    "utcnow",
]
