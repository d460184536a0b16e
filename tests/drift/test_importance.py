"""Permutation importance: ~0 for a feature the model ignores, large for one it uses,
seeded, leaves the caller's inputs alone; the comparison names the feature that moved."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.drift import compare_importance, mean_squared_error, permutation_importance


def _data(seed: int = 40, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 3))
    return x, 2.0 * x[:, 0] + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(rows)


def _model(x: np.ndarray) -> np.ndarray:
    return 2.0 * x[:, 0] + 0.5 * x[:, 1]  # ignores feature 2


def test_importance_of_an_ignored_feature_is_zero() -> None:
    x, y = _data()
    result = permutation_importance(_model, x, y)
    assert result.importances[2] == 0.0 and result.stds[2] == 0.0


def test_importance_orders_features_by_how_much_the_model_uses_them() -> None:
    x, y = _data()
    result = permutation_importance(_model, x, y)
    # shuffling x_j adds about 2·coef_j²·var(x_j) to the squared error: 8 and 0.5
    assert result.importances[0] == pytest.approx(8.0, rel=0.2)
    assert result.importances[1] == pytest.approx(0.5, rel=0.3)
    assert result.baseline_error == pytest.approx(0.01, rel=0.3)
    assert result.n_repeats == 5


def test_importance_is_seeded_and_leaves_the_inputs_alone() -> None:
    x, y = _data()
    before = x.copy()
    a = permutation_importance(_model, x, y, seed=3)
    b = permutation_importance(_model, x, y, seed=3)
    assert a == b
    np.testing.assert_array_equal(x, before)


def test_compare_importance_names_the_feature_the_model_now_leans_on() -> None:
    x, y = _data()
    reference = permutation_importance(_model, x, y)
    # live: the relation moved from feature 0 to feature 2
    rng = np.random.default_rng(41)
    live_x = rng.standard_normal((400, 3))
    live_y = 2.0 * live_x[:, 2] + 0.5 * live_x[:, 1]
    live = permutation_importance(lambda a: 2.0 * a[:, 2] + 0.5 * a[:, 1], live_x, live_y)
    change = compare_importance(live, reference)
    assert change.differences[0] < -5.0 and change.differences[2] > 5.0
    assert change.largest in (0, 2)
    assert sum(change.live_shares) == pytest.approx(1.0)


def test_compare_importance_of_other_widths_raises_value_error() -> None:
    x, y = _data()
    a = permutation_importance(_model, x, y, n_repeats=1)
    b = permutation_importance(lambda v: 2.0 * v[:, 0], x[:, :2], y, n_repeats=1)
    with pytest.raises(ValueError, match="cannot be compared"):
        compare_importance(a, b)


def test_mean_squared_error_flattens_column_predictions() -> None:
    assert mean_squared_error(np.array([1.0, 2.0]), np.array([[2.0], [4.0]])) == 2.5


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.ones((4, 2)), np.ones(3), "do not match"),
        (np.full((4, 2), np.nan), np.ones(4), "finite"),
    ],
)
def test_importance_bad_inputs_raise_value_error(x, y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        permutation_importance(_model, x, y)
