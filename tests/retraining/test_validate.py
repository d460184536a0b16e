"""validate_candidate and the demo trainer, in process: ONNX on both sides, the rule's edges."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from converters import convert
from gateway.demo import DEMO_FEATURES, make_demo_data
from gateway.errors import RetrainingError
from gateway.registration import prepare_estimator
from gateway.retraining import demo_trainer
from gateway.retraining.request import TrainingRequest, data_hash
from gateway.retraining.validate import decide, validate_candidate


def _regressor(slope: float):
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(200, 2))
    return LinearRegression().fit(X, slope * X[:, 0]), X


@pytest.mark.parametrize(
    ("metric", "candidate", "production", "margin", "passed"),
    [
        ("accuracy", 0.80, 0.79, 0.01, True),  # +1.27%
        ("accuracy", 0.80, 0.795, 0.01, False),  # +0.63%: better, not by the margin
        ("accuracy", 0.80, 0.80, 0.0, False),  # a tie keeps production
        ("accuracy", 0.80, 0.79, 0.0, True),
        ("accuracy", 0.1, 0.0, 0.5, True),  # anything beats nothing
        ("mae", 0.9, 1.0, 0.05, True),  # 10% lower error
        ("mae", 0.97, 1.0, 0.05, False),
        ("mae", 1.1, 1.0, 0.0, False),  # worse
        ("mae", 0.0, 0.0, 0.0, False),  # a perfect production cannot be beaten
    ],
)
def test_decide_needs_strict_gain_of_at_least_margin(metric, candidate, production, margin, passed):
    assert decide(metric, candidate, production, margin).passed is passed


def test_validate_candidate_regressors_compare_mae_on_onnx_outputs():
    new, X = _regressor(2.0)
    old, _ = _regressor(1.0)
    y = 2.0 * X[:, 0]
    new_onnx = convert(new, X.astype(np.float32)).onnx_bytes
    old_onnx = convert(old, X.astype(np.float32)).onnx_bytes
    result = validate_candidate(new_onnx, old_onnx, X, y, task="regression", margin=0.5)
    assert result.metric == "mae" and not result.higher_is_better
    assert result.candidate < 1e-4 < result.production
    assert result.passed and result.rows == 200 and result.improvement > 0.99
    backwards = validate_candidate(old_onnx, new_onnx, X, y, task="regression", margin=0.0)
    assert not backwards.passed and backwards.improvement < 0


def test_validate_candidate_refuses_a_model_of_another_task():
    model, X = _regressor(2.0)
    onnx = convert(model, X.astype(np.float32)).onnx_bytes
    with pytest.raises(RetrainingError, match="does regression, expected classification"):
        validate_candidate(onnx, onnx, X, X[:, 0], task="classification")
    with pytest.raises(RetrainingError, match="non-empty"):
        validate_candidate(onnx, onnx, X[:0], X[:0, 0], task="regression")


def test_demo_trainer_fits_the_demo_family_and_converts():
    data = make_demo_data(rows=1000)
    at = datetime(2024, 6, 1, tzinfo=UTC)
    X, y = data.X_train.astype(np.float32), data.y_train.astype(np.float64)
    request = TrainingRequest(
        "demo", DEMO_FEATURES, "1.0.0", "sklearn.ensemble.GradientBoostingClassifier",
        {"n_estimators": 500, "max_depth": 3, "learning_rate": 0.1}, "classification",
        "test", "admin", X, y, at, at, at, data_hash(X, y),
    )  # fmt: skip
    model = demo_trainer.train(request)
    assert type(model).__name__ == "GradientBoostingClassifier"
    assert model.n_estimators == demo_trainer.MAX_ESTIMATORS
    assert sorted(model.classes_.tolist()) == [-1, 0, 1]
    prepared = prepare_estimator(model, X, y, feature_names=DEMO_FEATURES)
    assert prepared.signature.class_labels == (-1, 0, 1)
    accuracy = float(np.mean(model.predict(data.X_test) == data.y_test))
    assert accuracy > 0.6
