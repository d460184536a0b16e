"""Judge a candidate against production on held-out rows, both run as they would serve.

The rule: the candidate passes when it is strictly better than production on the
held-out rows by at least ``margin``, relative to production's figure. Classifiers are
compared on accuracy (higher is better): relative gain ``(c − p) / p``. Regressors on
mean absolute error (lower is better): relative gain ``(p − c) / p``. With the default
margin of 0.01 a candidate must be at least 1% better; a margin of 0 still asks for
strictly better (a tie keeps production: a swap must buy something). When production's
figure is 0 the relative gain is taken as +inf for any strict improvement (accuracy
above 0) and as −inf / 0 otherwise (production's error is already 0: it cannot be beaten).

Both models run through onnxruntime: the candidate as converted, i.e. exactly what would
serve. Predicted class labels are compared with the outcomes in the terms the outcomes
use (``gateway/outcomes.py``): the label for numeric labels, the class index otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from converters import validate_onnx
from gateway.errors import RetrainingError
from gateway.serving.loader import build_loaded
from gateway.serving.model import LoadedModel

DEFAULT_MARGIN = 0.01
_CHUNK_ROWS = 8192


@dataclass(frozen=True, slots=True)
class Validation:
    """How a candidate did against production on the held-out rows.

    Attributes:
        metric: ``"accuracy"`` (classifiers, higher is better) or ``"mae"`` (regressors,
            lower is better).
        candidate: the candidate's figure.
        production: production's figure.
        improvement: the candidate's relative gain over production (positive: better).
        margin: the relative gain asked for.
        passed: ``improvement >= margin`` and ``improvement > 0``.
        rows: held-out rows compared.
    """

    metric: str
    candidate: float
    production: float
    improvement: float
    margin: float
    passed: bool
    rows: int

    @property
    def higher_is_better(self) -> bool:
        """True for accuracy, False for an error."""
        return self.metric == "accuracy"


def relative_gain(metric: str, candidate: float, production: float) -> float:
    """The candidate's relative improvement over production (positive: better).

    >>> relative_gain("accuracy", 0.75, 0.5), relative_gain("mae", 0.5, 2.0)
    (0.5, 0.75)
    >>> relative_gain("accuracy", 0.1, 0.0), relative_gain("mae", 0.1, 0.0)
    (inf, -inf)
    """
    sign = 1.0 if metric == "accuracy" else -1.0
    difference = sign * (candidate - production)
    if production != 0.0:
        return difference / abs(production)
    return math.copysign(math.inf, difference) if difference != 0.0 else 0.0


def decide(metric: str, candidate: float, production: float, margin: float) -> Validation:
    """The verdict for two figures (``rows`` left 0).

    >>> decide("accuracy", 0.70, 0.60, 0.01).passed, decide("mae", 1.0, 1.0, 0.0).passed
    (True, False)
    """
    gain = relative_gain(metric, candidate, production)
    passed = gain > 0.0 and gain >= margin
    return Validation(metric, candidate, production, gain, margin, passed, 0)


def _as_loaded(model: bytes | LoadedModel, label: str) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    data = bytes(model)
    signature = validate_onnx(data, max_bytes=len(data) + 1)
    return build_loaded("retraining", label, "", data, signature)


def predictions(model: LoadedModel, X: np.ndarray) -> np.ndarray:
    """The model's predictions on ``X`` (float64): values, or class labels in the terms
    outcomes use (the label when labels are numeric, else the class index)."""
    parts = []
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        outputs = model.run(np.ascontiguousarray(X[start : start + _CHUNK_ROWS], np.float32))
        if outputs.labels is None:
            parts.append(np.asarray(outputs.values, dtype=np.float64))
        elif model.label_values is not None:
            parts.append(model.label_values[outputs.labels].astype(np.float64))
        else:
            parts.append(outputs.labels.astype(np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def score(model: LoadedModel, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy (classifiers) or mean absolute error (regressors) of ``model`` on X, y."""
    predicted, y = predictions(model, X), np.asarray(y, dtype=np.float64)
    if model.signature.task == "classification":
        return float(np.mean(predicted == y))
    return float(np.mean(np.abs(predicted - y)))


def validate_candidate(
    candidate: bytes | LoadedModel,
    production: bytes | LoadedModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    margin: float = DEFAULT_MARGIN,
) -> Validation:
    """Compare a candidate with production on held-out rows (blocking: run in a thread).

    Args:
        candidate: the candidate's ONNX bytes (or it loaded).
        production: production's ONNX bytes (or its loaded version).
        X: held-out rows, float [rows, features], never seen by the trainer.
        y: their outcomes.
        task: ``"classification"`` or ``"regression"``: both models must do it.
        margin: the relative gain the candidate must reach (see the module docstring).

    Returns:
        Both figures, the gain, the margin and the verdict.

    Raises:
        RetrainingError: no rows, mismatched shapes, or a model of another task.
        ArtifactLoadError, ModelOutputError: a model cannot load or run.
    """
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[0] != y.shape[0]:
        raise RetrainingError(
            f"held-out rows must be a non-empty [rows, features] array with one outcome "
            f"per row; got X of shape {list(X.shape)} and {y.shape[0]} outcomes"
        )
    if not 0.0 <= margin < math.inf:
        raise RetrainingError(f"margin must be a finite number >= 0, got {margin!r}")
    models = {"candidate": _as_loaded(candidate, "candidate")}
    models["production"] = _as_loaded(production, "production")
    for label, model in models.items():
        if model.signature.task != task:
            raise RetrainingError(f"the {label} model does {model.signature.task}, expected {task}")
        if model.signature.n_features != X.shape[1]:
            raise RetrainingError(
                f"the {label} model takes {model.signature.n_features} features, the "
                f"held-out rows have {X.shape[1]}"
            )
    metric = "accuracy" if task == "classification" else "mae"
    verdict = decide(
        metric,
        score(models["candidate"], X, y),
        score(models["production"], X, y),
        float(margin),
    )
    return dataclasses.replace(verdict, rows=int(X.shape[0]))
