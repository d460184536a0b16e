"""Build one PredictionRecord from a served request, cheaply: bytes copies, no I/O."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from gateway.serving.model import LoadedModel, Outputs
from registry.entities import PredictionRecord


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


def build_record(
    *,
    prediction_id: str,
    model: LoadedModel,
    arm: str,
    experiment_id: str,
    routing_key: str,
    x: np.ndarray,
    outputs: Outputs,
    started: float,
) -> PredictionRecord:
    """The log record of one answered request.

    Args:
        prediction_id: the id returned to the caller.
        model: the version that served it.
        arm: "production", "control", "treatment" or "pinned".
        experiment_id: the routing experiment's id as the response carries it ("" for none).
        routing_key: the request's sticky key.
        x: the float32 [rows, n_features] input that was run.
        outputs: what the session returned.
        started: ``time.perf_counter()`` when the request arrived.

    Returns:
        A frozen record; ``inputs``/``outputs`` are little-endian float32 bytes.
    """
    if outputs.values is not None:
        out = np.asarray(outputs.values, dtype="<f4").tobytes()
    else:
        out = np.asarray(outputs.probabilities, dtype="<f4").tobytes()
    return PredictionRecord(
        prediction_id=prediction_id,
        at=datetime.now(UTC),
        model=model.name,
        version=model.version,
        arm=arm,
        experiment_id=int(experiment_id) if experiment_id else None,
        routing_key=routing_key,
        rows=int(x.shape[0]),
        inputs=np.asarray(x, dtype="<f4").tobytes(),
        outputs=out,
        predicted=predicted_value(outputs, model),
        latency_us=int((time.perf_counter() - started) * 1e6),
    )
