"""What the hot path keeps of an answered request, and the rows the writer builds from it.

Predict appends an :data:`Entry`: a plain tuple of references (the routed version, the
input array, the session's outputs) and two clock readings, about 0.2 µs. The writer
turns entries into database rows (bytes copies, the predicted value) off the request's
path, and an outcome for a prediction not yet written reads its record with
:func:`entry_record`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from gateway.serving.model import LoadedModel, Outputs
from gateway.serving.snapshot import Routed
from registry.entities import PredictionRecord, PredictionRowTuple

# (prediction_id, at: time.time(), routed version, routing_key, x, outputs, latency_us)
Entry = tuple[str, float, Routed, str, np.ndarray, Outputs, int]


def predicted_value(outputs: Outputs, model: LoadedModel) -> float:
    """Row 0's prediction as a float: the value, or the class label (its index if not numeric).

    Experiment metrics compare this with the outcome, so a classifier trained on integer
    classes (e.g. -1/0/1) is scored against outcomes given as those same integers.
    """
    if outputs.values is not None:
        return float(outputs.values[0])
    index = int(outputs.labels[0])
    label = model.signature.class_labels[index]
    if isinstance(label, int | float | np.integer | np.floating) and not isinstance(label, bool):
        return float(label)
    return float(index)


def output_array(outputs: Outputs) -> np.ndarray:
    """What the log keeps of the outputs: values (regressors) or probabilities."""
    return outputs.values if outputs.values is not None else outputs.probabilities


def entry_bytes(x: np.ndarray, outputs: Outputs) -> int:
    """Bytes the entry's inputs and outputs take once written (float32 each)."""
    return x.size * 4 + output_array(outputs).size * 4


def entry_row(entry: Entry) -> PredictionRowTuple:
    """The database row of an entry (``Registry.write_prediction_rows``).

    ``inputs`` and ``outputs`` become little-endian float32 bytes.
    """
    prediction_id, at, served, routing_key, x, outputs, latency_us = entry
    model = served.model
    experiment_id = served.experiment_id
    return (
        prediction_id,
        at,
        model.name,
        model.version,
        served.arm,
        int(experiment_id) if experiment_id else None,
        routing_key,
        x.shape[0],
        np.asarray(x, dtype="<f4").tobytes(),
        np.asarray(output_array(outputs), dtype="<f4").tobytes(),
        predicted_value(outputs, model),
        latency_us,
    )


def entry_record(entry: Entry) -> PredictionRecord:
    """The frozen record of an entry, as it will be stored."""
    row = entry_row(entry)
    return PredictionRecord(
        prediction_id=row[0],
        at=datetime.fromtimestamp(row[1], UTC),
        model=row[2],
        version=row[3],
        arm=row[4],
        experiment_id=row[5],
        routing_key=row[6],
        rows=row[7],
        inputs=row[8],
        outputs=row[9],
        predicted=row[10],
        latency_us=row[11],
    )
