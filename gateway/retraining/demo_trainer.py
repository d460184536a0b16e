"""The demo model's trainer: ``gateway.retraining.demo_trainer:train`` retrains "demo".

The same family as ``gateway.demo`` (a GradientBoostingClassifier), fitted on the
request's rows in a second or two. Production's hyperparameters are reused where they
are plain and small enough; the tree count is capped so the fit stays quick.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gateway.retraining.request import TrainingRequest

MAX_ESTIMATORS = 50
MAX_DEPTH = 4


def _int_param(params: dict[str, Any], name: str, default: int, cap: int) -> int:
    value = params.get(name, default)
    return min(int(value), cap) if isinstance(value, int) and value > 0 else default


def train(request: TrainingRequest) -> Any:
    """Fit a GradientBoostingClassifier (a GradientBoostingRegressor for a regression
    model) on ``request.X``, ``request.y``."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    params = dict(request.hyperparameters)
    kwargs = {
        "n_estimators": _int_param(params, "n_estimators", MAX_ESTIMATORS, MAX_ESTIMATORS),
        "max_depth": _int_param(params, "max_depth", 3, MAX_DEPTH),
        "random_state": request.seed,
    }
    rate = params.get("learning_rate")
    if isinstance(rate, float) and 0.0 < rate <= 1.0:
        kwargs["learning_rate"] = rate
    y = request.y
    if request.task == "regression":
        return GradientBoostingRegressor(**kwargs).fit(request.X, y)
    if np.all(np.mod(y, 1.0) == 0.0):  # integral outcomes: integer class labels
        y = y.astype(np.int64)
    return GradientBoostingClassifier(**kwargs).fit(request.X, y)
