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
from registry.schema.predictions import OutcomeRow, PredictionRow

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactRow",
    "Base",
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
    "StageTransitionRow",
    "UTCDateTime",
    "utcnow",
]
