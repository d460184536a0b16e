"""Trainers for the retraining tests, run in a spawned process by ``run_trainer``."""

from __future__ import annotations

import os
import time

import numpy as np

from gateway.retraining.request import TrainingRequest, TrainingResult


def _classifier(request: TrainingRequest, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(request.X, y)


def good(request: TrainingRequest):
    """A logistic regression on the request's rows (classifiers) or a linear model."""
    if request.task == "classification":
        return _classifier(request, request.y)
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(request.X, request.y)


def good_with_result(request: TrainingRequest) -> TrainingResult:
    """:func:`good`, wrapped with metrics and a note."""
    return TrainingResult(good(request), metrics={"rows": float(request.rows)}, note="wrapped")


def shuffled(request: TrainingRequest):
    """A classifier fitted on the request's labels in random order: it learns nothing."""
    rng = np.random.default_rng(request.seed)
    return _classifier(request, rng.permutation(request.y))


def raises(request: TrainingRequest):
    """Fails like a broken trainer."""
    raise ValueError(f"cannot train on {request.rows} rows: the feature store is down")


def sleeps(request: TrainingRequest):
    """Writes its pid to GALGATE_TEST_PID_FILE, then outlives any test's time limit."""
    path = os.environ.get("GALGATE_TEST_PID_FILE")
    if path:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    time.sleep(600)


def not_an_estimator(request: TrainingRequest):
    """Returns data instead of a model."""
    return {"weights": [1.0, 2.0]}


def exits(request: TrainingRequest):
    """Dies without an answer."""
    os._exit(3)


NOT_CALLABLE = 42
