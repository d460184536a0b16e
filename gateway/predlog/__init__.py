"""The prediction log: every answered Predict becomes a PredictionRecord, written in batches."""

from __future__ import annotations

from gateway.predlog.record import build_record, predicted_value
from gateway.predlog.writer import POLICIES, PredictionLog, PredictionStore

__all__ = [
    "POLICIES",
    "PredictionLog",
    "PredictionStore",
    "build_record",
    "predicted_value",
]
