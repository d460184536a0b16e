"""Population Stability Index per feature, binned at the reference's quantiles.

PSI = Σ (a_i − e_i)·ln(a_i / e_i) over bins, with e_i the reference's share of bin i and
a_i the live window's. The bins are cut at the reference quantiles of levels about j/B
(j = 1..B−1; B = 30 by default, Evidently's default), so each holds about 1/B of the
reference when the feature is continuous. An empty bin's share (either side) is replaced by
``EPSILON`` = 1e-4, the value Evidently uses, so the logarithm stays finite.

The reference is what a version's profile stores (``converters/profile.py``): the
0th..100th percentiles of each feature, a table ``[F, 101]``. (The profile's 2,000-row
sample would also do, but the full-data percentiles are the better estimate of where
the quantiles lie, and PSI needs nothing else.) The cut points are the stored percentiles
nearest the levels j/B, within half a percentile of them, so every cut point is a value
the reference quantile function took: an atom (the zeros of a binary feature) stays one
point and no empty bin opens inside a jump. Coinciding cut points merge their bins.
Each bin's expected share is the mass the rebuilt reference CDF puts in it; the CDF is
the piecewise-linear interpolation of the stored quantile function, exact at each
stored percentile (an atom's share is known to within one percentile). For a continuous
feature the shares are then 0.03 or 0.04, not exactly 1/30. ``quantile_table`` makes the
same table from a raw sample.

Rules of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant; the default alarm
is PSI ≥ 0.1. On a stationary feature PSI·n is roughly χ² with B−1 degrees of freedom,
so its typical value is about (B−1)/n: 30 bins need a window of several hundred rows
before the 0.1 rule is quiet (tests/drift/test_psi.py measures it).

>>> rng = np.random.default_rng(1)
>>> table = quantile_table(rng.standard_normal((5000, 1)))
>>> result = psi_test(rng.standard_normal((2000, 1)) + 1.0, table)
>>> result.drift, result.levels
(True, ('significant',))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the share an empty bin is given (Evidently replaces empty bins' shares by 0.0001).
EPSILON = 1e-4
DEFAULT_BINS = 30
THRESHOLD = 0.1
MODERATE = 0.1
SIGNIFICANT = 0.25
#: levels of the profile's quantile table: the 0th..100th percentiles.
PROFILE_QUANTILES = 101


@dataclass(frozen=True, slots=True, eq=False)
class PsiBins:
    """One feature's bins: the interior cut points and the reference share of each bin.

    Bin 0 is (−∞, edges[0]], bin i is (edges[i−1], edges[i]], the last is
    (edges[−1], ∞). ``expected`` has ``len(edges) + 1`` shares summing to 1.
    """

    edges: np.ndarray
    expected: np.ndarray

    def shares(self, values: np.ndarray) -> np.ndarray:
        """The share of ``values`` (1-D) falling in each bin."""
        index = np.searchsorted(self.edges, values, side="left")
        counts = np.bincount(index, minlength=self.edges.size + 1)
        return counts / max(values.size, 1)


@dataclass(frozen=True, slots=True)
class PsiResult:
    """The outcome of one PSI check.

    Attributes:
        values: the PSI of each feature.
        levels: "stable" (< 0.1), "moderate" (0.1–0.25) or "significant" (> 0.25).
        drifted: indices of the features whose PSI is at least ``threshold``.
        drift: True when any feature drifted.
        threshold: the alarm level.
        bins: the number of bins asked for (tied cut points can leave fewer).
        n_live: rows in the live window.
    """

    values: tuple[float, ...]
    levels: tuple[str, ...]
    drifted: tuple[int, ...]
    drift: bool
    threshold: float
    bins: int
    n_live: int


def quantile_table(sample: np.ndarray, n_quantiles: int = PROFILE_QUANTILES) -> np.ndarray:
    """The quantiles of each column at evenly spaced levels 0..1, shaped [F, n_quantiles],
    as a profile stores them.

    >>> quantile_table(np.array([[0.0], [4.0]]), 5).tolist()
    [[0.0, 1.0, 2.0, 3.0, 4.0]]
    """
    data = np.asarray(sample, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0 or not np.isfinite(data).all():
        raise ValueError("reference sample must be [rows >= 1, F] of finite values")
    return np.quantile(data, np.linspace(0.0, 1.0, n_quantiles), axis=0).T


def _cdf(quantiles: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(X ≤ x) of the piecewise-linear quantile function: sup{p : Q(p) ≤ x}."""
    levels = np.linspace(0.0, 1.0, quantiles.size)
    k = np.searchsorted(quantiles, x, side="right") - 1  # last stored Q_k ≤ x
    out = np.zeros(x.shape)
    inside = (k >= 0) & (k < quantiles.size - 1)
    out[k >= quantiles.size - 1] = 1.0
    ki = k[inside]
    lo, hi = quantiles[ki], quantiles[ki + 1]  # lo ≤ x < hi, so hi > lo
    out[inside] = levels[ki] + (x[inside] - lo) / (hi - lo) * (levels[1] - levels[0])
    return out


def psi_bins(quantiles: np.ndarray, bins: int = DEFAULT_BINS) -> PsiBins:
    """Bins cut at the stored reference quantiles nearest the levels j/bins.

    Args:
        quantiles: one feature's quantiles at evenly spaced levels 0..1 (a profile's
            ``quantiles[f]``: 101 values, non-decreasing).
        bins: how many equal-share bins to cut.

    >>> b = psi_bins(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), 4)
    >>> b.edges.tolist(), b.expected.tolist()
    ([1.0, 2.0, 3.0], [0.25, 0.25, 0.25, 0.25])
    """
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or q.size < 2 or not np.isfinite(q).all() or (np.diff(q) < 0).any():
        raise ValueError("quantiles must be >= 2 finite, non-decreasing values")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    nearest = np.rint(np.arange(1, bins) * (q.size - 1) / bins).astype(np.intp)
    edges = np.unique(q[nearest])
    cdf = np.concatenate(([0.0], _cdf(q, edges), [1.0]))
    expected = np.diff(cdf)
    edges.setflags(write=False)
    expected.setflags(write=False)
    return PsiBins(edges, expected)


def psi_value(expected: np.ndarray, actual: np.ndarray, eps: float = EPSILON) -> float:
    """Σ (a_i − e_i)·ln(a_i / e_i), shares of 0 replaced by ``eps``.

    >>> round(psi_value(np.array([0.5, 0.5]), np.array([0.75, 0.25])), 6)
    0.274653
    """
    e = np.where(expected > 0.0, expected, eps)
    a = np.where(actual > 0.0, actual, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def stability(value: float) -> str:
    """The rule-of-thumb reading of a PSI value.

    >>> stability(0.05), stability(0.1), stability(0.3)
    ('stable', 'moderate', 'significant')
    """
    if value < MODERATE:
        return "stable"
    return "moderate" if value <= SIGNIFICANT else "significant"


def psi_test(
    live: np.ndarray,
    quantiles: np.ndarray,
    *,
    bins: int = DEFAULT_BINS,
    threshold: float = THRESHOLD,
    eps: float = EPSILON,
) -> PsiResult:
    """PSI of each feature of ``live`` against the reference quantile table.

    Args:
        live: the live window, [rows, F].
        quantiles: the reference quantile table, [F, Q] (a profile's ``quantiles``).
        bins: bins per feature (Evidently's 30 by default).
        threshold: a feature drifted when its PSI is at least this (0.1 by default; PSI < 0.1
            is "stable").
        eps: the share given to an empty bin.

    Raises:
        ValueError: shapes that do not match, an empty window, NaN or infinity.
    """
    table = np.asarray(quantiles, dtype=np.float64)
    data = np.asarray(live, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"quantile table has shape {list(table.shape)}; expected [F, Q]")
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != table.shape[0]:
        raise ValueError(
            f"live window has shape {list(data.shape)}; expected [rows >= 1, {table.shape[0]}]"
        )
    if not np.isfinite(data).all():
        raise ValueError("live window holds NaN or infinity; drift statistics need finite values")
    values = []
    for j in range(table.shape[0]):
        feature_bins = psi_bins(table[j], bins)
        values.append(psi_value(feature_bins.expected, feature_bins.shares(data[:, j]), eps))
    drifted = tuple(j for j, v in enumerate(values) if v >= threshold)
    return PsiResult(
        values=tuple(values),
        levels=tuple(stability(v) for v in values),
        drifted=drifted,
        drift=bool(drifted),
        threshold=float(threshold),
        bins=int(bins),
        n_live=int(data.shape[0]),
    )
