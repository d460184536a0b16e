"""What a trainer receives (TrainingRequest) and may return (TrainingResult); pickled across."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 over the bytes of ``X`` (float32, C order) and then ``y`` (float64).

    >>> X, y = np.zeros((2, 3), dtype=np.float32), np.ones(2)
    >>> data_hash(X, y) == data_hash(X.copy(), y.copy()), len(data_hash(X, y))
    (True, 64)
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True, eq=False)
class TrainingRequest:
    """Everything a trainer gets: the model, the production version it replaces, and the
    training rows from the prediction log (the older part; the newest rows are held out
    to validate the candidate and never reach the trainer).

    Attributes:
        model: the model name.
        features: the feature names, in the column order of ``X`` (production's).
        parent_version: the production version being retrained.
        model_type: production's estimator type, e.g.
            ``sklearn.ensemble.GradientBoostingClassifier``.
        hyperparameters: production's hyperparameters, as registered.
        task: ``"classification"`` or ``"regression"``; the candidate must do the same.
        reason: why this retraining runs (free text).
        trigger: what started it, e.g. ``"drift"``, ``"schedule"``, ``"admin"``.
        X: float32 [rows, features], oldest row first.
        y: float64 [rows]: the recorded outcomes (class labels, or class indices for
            string-labelled classifiers; target values for regressors).
        window_start: when the first training row was predicted.
        window_end: when the last training row was predicted.
        holdout_start: when the first held-out row was predicted. A trainer that loads
            its own data must use none from this time on: the candidate is judged on the
            rows after it.
        data_hash: :func:`data_hash` of ``X`` and ``y``.
        seed: a seed for trainers that want to be reproducible.
    """

    model: str
    features: tuple[str, ...]
    parent_version: str
    model_type: str
    hyperparameters: Mapping[str, Any]
    task: str
    reason: str
    trigger: str
    X: np.ndarray
    y: np.ndarray
    window_start: datetime
    window_end: datetime
    holdout_start: datetime
    data_hash: str
    seed: int = 0

    @property
    def rows(self) -> int:
        """How many training rows ``X`` holds."""
        return int(self.X.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class TrainingResult:
    """What a trainer may return instead of a bare fitted estimator.

    Attributes:
        estimator: the fitted estimator (sklearn, XGBoost or LightGBM; what converters take).
        metrics: the trainer's own figures (e.g. cross-validation), kept in the outcome.
        note: a remark for the record, e.g. ``"loaded my own data"``.
        X, y: the data the trainer fitted on when it loaded its own (float [rows,
            features] and [rows]); then they, not the request's rows, are used to check
            the conversion, build the reference profile and hash the training data.
    """

    estimator: Any
    metrics: Mapping[str, float] = field(default_factory=dict)
    note: str = ""
    X: np.ndarray | None = None
    y: np.ndarray | None = None
