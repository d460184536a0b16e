"""Permutation importance of features on a window, and how it moved against a reference.

A feature's importance is the mean increase of the error when its column is shuffled
(``n_repeats`` shuffles, seeded): a feature the model ignores scores ~0, one it leans on
scores high. Comparing live importance with the reference importance (computed the
same way on training rows) shows which features the model now relies on differently.

>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((300, 2))
>>> y = 3.0 * x[:, 0]
>>> result = permutation_importance(lambda a: 3.0 * a[:, 0], x, y, mean_squared_error)
>>> result.importances[0] > 10.0, result.importances[1]
(True, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
ErrorFunction = Callable[[np.ndarray, np.ndarray], float]


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of (y_pred − y_true)²."""
    d = np.asarray(y_pred, dtype=np.float64).reshape(-1) - np.asarray(y_true, np.float64)
    return float(np.mean(d * d))


@dataclass(frozen=True, slots=True)
class Importance:
    """Permutation importance on one window.

    Attributes:
        baseline_error: the error with no column shuffled.
        importances: per feature, mean error increase over the shuffles.
        stds: per feature, standard deviation of the increase over the shuffles.
        n_repeats: shuffles per feature.
    """

    baseline_error: float
    importances: tuple[float, ...]
    stds: tuple[float, ...]
    n_repeats: int


@dataclass(frozen=True, slots=True)
class ImportanceChange:
    """Live importance against reference importance, per feature.

    Attributes:
        differences: live − reference.
        live_shares: each feature's share of the live total (negatives counted as 0).
        reference_shares: the same for the reference.
        largest: the feature whose share moved most.
    """

    differences: tuple[float, ...]
    live_shares: tuple[float, ...]
    reference_shares: tuple[float, ...]
    largest: int


def permutation_importance(
    predict: Predict,
    x: np.ndarray,
    y: np.ndarray,
    error: ErrorFunction = mean_squared_error,
    *,
    n_repeats: int = 5,
    seed: int = 0,
) -> Importance:
    """Mean error increase when each feature column is shuffled.

    Args:
        predict: the model, ``[rows, F] -> [rows]`` predictions.
        x: the window's inputs, [rows, F], finite.
        y: the window's targets, [rows].
        error: ``(y_true, y_pred) -> error``, lower is better.
        n_repeats: shuffles per feature.
        seed: seeds the shuffles.

    Raises:
        ValueError: shapes that do not match, NaN or infinity, n_repeats < 1.
    """
    data = np.array(x, dtype=np.float64)  # a copy: columns are shuffled in place
    target = np.asarray(y, dtype=np.float64)
    if data.ndim != 2 or target.shape != (data.shape[0],) or data.shape[0] < 2:
        raise ValueError(
            f"inputs {list(data.shape)} and targets {list(target.shape)} do not match "
            "[rows >= 2, F] and [rows]"
        )
    if not (np.isfinite(data).all() and np.isfinite(target).all()):
        raise ValueError("importance needs finite inputs and targets")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    rng = np.random.default_rng(seed)
    base = float(error(target, predict(data)))
    means, stds = [], []
    for j in range(data.shape[1]):
        column = data[:, j].copy()
        increases = []
        for _ in range(n_repeats):
            data[:, j] = rng.permutation(column)
            increases.append(float(error(target, predict(data))) - base)
        data[:, j] = column
        means.append(float(np.mean(increases)))
        stds.append(float(np.std(increases)))
    return Importance(base, tuple(means), tuple(stds), n_repeats)


def _shares(values: np.ndarray) -> np.ndarray:
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    return positive / total if total > 0 else np.zeros_like(positive)


def compare_importance(live: Importance, reference: Importance) -> ImportanceChange:
    """How each feature's importance moved from the reference to the live window.

    >>> ref = Importance(1.0, (4.0, 1.0), (0.0, 0.0), 5)
    >>> now = Importance(1.0, (1.0, 4.0), (0.0, 0.0), 5)
    >>> change = compare_importance(now, ref)
    >>> change.differences, change.live_shares, change.largest
    ((-3.0, 3.0), (0.2, 0.8), 0)
    """
    a = np.asarray(live.importances)
    b = np.asarray(reference.importances)
    if a.shape != b.shape:
        raise ValueError(f"importances of {a.size} and {b.size} features cannot be compared")
    live_shares, reference_shares = _shares(a), _shares(b)
    return ImportanceChange(
        differences=tuple(float(d) for d in a - b),
        live_shares=tuple(float(s) for s in live_shares),
        reference_shares=tuple(float(s) for s in reference_shares),
        largest=int(np.argmax(np.abs(live_shares - reference_shares))),
    )
