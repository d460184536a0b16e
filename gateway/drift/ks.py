"""Per-feature two-sample Kolmogorov–Smirnov test of a live window against a reference
sample, corrected for testing many features at once (Bonferroni or Benjamini–Hochberg).

The reference is the ``sample`` a version's profile keeps (``converters/profile.py``:
up to 2,000 of the training rows, drawn with a fixed seed, float32 ``[rows, F]``). The
profile also stores 101 percentiles per feature, but a sample is what a two-sample test
needs: KS here is the exact ``scipy.stats.ks_2samp`` of live rows against those rows, no
reconstructed CDF and no approximation beyond the sample itself (a percentile table
would cap the reference CDF's resolution at 1% and make the p-values approximate).
Defaults are alibi-detect's KSDrift: two-sided, p_val 0.05, Bonferroni. With 8 features
and a 2,000-row reference, one feature shifted by 0.5 sd is flagged in about 94% of
100-row windows and 99% of 150-row windows (tests/drift/test_ks.py).

>>> rng = np.random.default_rng(0)
>>> reference = rng.standard_normal((500, 2))
>>> live = rng.standard_normal((200, 2)) + [0.0, 1.0]
>>> result = ks_test(live, reference)
>>> result.drift, result.drifted, result.threshold
(True, (1,), 0.025)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Correction = Literal["bonferroni", "fdr"]


@dataclass(frozen=True, slots=True)
class KsResult:
    """The outcome of one KS drift check.

    Attributes:
        statistics: the KS statistic D of each feature.
        p_values: the two-sided p-value of each feature, uncorrected.
        thresholds: the level each feature's p-value was held to: α/F for every feature
            under Bonferroni; α·rank/F (rank of its p-value, ascending) under FDR.
        threshold: the level that decided: α/F (Bonferroni), or under FDR the largest
            α·k/F whose k-th smallest p-value is below it (0.0 when there is none).
        drifted: indices of the features found drifted.
        drift: True when any feature drifted.
        correction: "bonferroni" or "fdr".
        alpha: the family-wise level (Bonferroni) or false discovery rate (FDR).
        n_live: rows in the live window.
        n_reference: rows in the reference sample.
    """

    statistics: tuple[float, ...]
    p_values: tuple[float, ...]
    thresholds: tuple[float, ...]
    threshold: float
    drifted: tuple[int, ...]
    drift: bool
    correction: Correction
    alpha: float
    n_live: int
    n_reference: int


def _checked(name: str, x: np.ndarray, width: int | None) -> np.ndarray:
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0 or (width is not None and data.shape[1] != width):
        want = f"[rows >= 1, {width if width is not None else 'F'}]"
        raise ValueError(f"{name} has shape {list(data.shape)}; expected {want}")
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinity; drift statistics need finite values")
    return data


def corrected(
    p_values: np.ndarray, alpha: float = 0.05, correction: Correction = "bonferroni"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Which p-values are significant after the multiple-testing correction.

    Bonferroni: ``p_i < α/F``. Benjamini–Hochberg: with p sorted ascending, the largest k
    such that ``p_(k) < α·k/F``; the k smallest are significant.

    Returns:
        (significant mask, per-feature thresholds, deciding threshold), as ``KsResult``
        describes them.

    >>> mask, _, t = corrected(np.array([0.01, 0.02, 0.04]), 0.05, "fdr")
    >>> mask.tolist(), round(t, 4)
    ([True, True, True], 0.05)
    >>> corrected(np.array([0.01, 0.02, 0.04]), 0.05)[0].tolist()
    [True, False, False]
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(p_values, dtype=np.float64)
    f = p.size
    if correction == "bonferroni":
        threshold = alpha / f
        return p < threshold, np.full(f, threshold), threshold
    if correction == "fdr":
        order = np.argsort(p, kind="stable")
        levels = alpha * np.arange(1, f + 1) / f
        below = np.flatnonzero(p[order] < levels)
        thresholds = np.empty(f)
        thresholds[order] = levels
        mask = np.zeros(f, dtype=bool)
        if below.size == 0:
            return mask, thresholds, 0.0
        k = int(below[-1])
        mask[order[: k + 1]] = True
        return mask, thresholds, float(levels[k])
    raise ValueError(f"correction must be 'bonferroni' or 'fdr', got {correction!r}")


def ks_test(
    live: np.ndarray,
    reference: np.ndarray,
    *,
    alpha: float = 0.05,
    correction: Correction = "bonferroni",
) -> KsResult:
    """Test each feature of ``live`` against the same column of ``reference``.

    Args:
        live: the live window, [rows, F] (``InputWindow.values()``).
        reference: the reference sample, [rows, F] (a profile's ``sample``).
        alpha: α of the correction (alibi-detect's ``p_val``).
        correction: "bonferroni" (drift if any p < α/F) or "fdr" (Benjamini–Hochberg).

    Returns:
        The per-feature statistics and p-values, thresholds and the decision.

    Raises:
        ValueError: a shape mismatch, an empty side, NaN or infinity, a bad α or
            correction.
    """
    ref = _checked("reference sample", reference, None)
    cur = _checked("live window", live, ref.shape[1])
    tests = [
        stats.ks_2samp(cur[:, j], ref[:, j], alternative="two-sided") for j in range(ref.shape[1])
    ]
    p_values = np.array([t.pvalue for t in tests])
    mask, thresholds, threshold = corrected(p_values, alpha, correction)
    drifted = tuple(int(j) for j in np.flatnonzero(mask))
    return KsResult(
        statistics=tuple(float(t.statistic) for t in tests),
        p_values=tuple(float(p) for p in p_values),
        thresholds=tuple(float(t) for t in thresholds),
        threshold=float(threshold),
        drifted=drifted,
        drift=bool(drifted),
        correction=correction,
        alpha=float(alpha),
        n_live=int(cur.shape[0]),
        n_reference=int(ref.shape[0]),
    )
