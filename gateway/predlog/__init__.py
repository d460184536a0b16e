"""The prediction log: every answered Predict becomes a logged row, written in batches."""

from __future__ import annotations

from gateway.predlog.record import entry_record, predicted_value
from gateway.predlog.writer import POLICIES, PredictionLog, PredictionStore

__all__ = [
    "POLICIES",
    "PredictionLog",
    "PredictionStore",
    "entry_record",
    "predicted_value",
]
