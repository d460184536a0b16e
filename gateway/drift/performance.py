"""Performance drift: is the live metric over the last outcomes worse than the version's
recorded baseline, and how sure is that?

A one-sided one-sample t-test of the live per-outcome values (``ErrorWindow.values()``)
against the baseline, in the metric's bad direction: for an error (lower is better) H1 is
"live mean > baseline + margin", for accuracy or reward (higher is better) "live mean <
baseline − margin". Below ``min_samples`` values nothing is decided. The t-test is an
approximation for skewed errors (squared errors are right-skewed): the sample mean's
skew then makes the upper-tail test conservative, and with 30+ values the approximation
is close (tests/drift/test_performance.py measures the false-alarm rate).

This is a fixed-sample test: ``alpha`` is the false-alarm rate of one check. A job that
checks a window over and over alarms on a healthy version in about a fraction α of its
checks (in clusters when the windows overlap), so a long watch alarms eventually: hence
the stricter default α = 0.01, and a caller that acts on an alarm should confirm it on a
fresh window (or use the always-valid sequential tests of ``gateway.stats``).

>>> rng = np.random.default_rng(0)
>>> errors = rng.standard_normal(200) ** 2 * 1.5  # mean squared error 1.5
>>> result = performance_test(errors, baseline=1.0)
>>> result.degraded, round(result.live_mean, 3), round(result.p_value, 4)
(True, 1.386, 0.001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_SAMPLES = 30


@dataclass(frozen=True, slots=True)
class PerformanceResult:
    """The outcome of one performance-drift check.

    Attributes:
        n: values tested.
        live_mean: their mean.
        live_std: their sample standard deviation (ddof=1; 0.0 below two values).
        baseline: the recorded metric the live values are held to.
        margin: the degradation tolerated before it counts.
        direction: −1 when lower is better (errors), +1 when higher is better.
        statistic: the t statistic, oriented so that positive means worse.
        p_value: one-sided p-value of "no worse than baseline ± margin" (1.0 when not
            enough values).
        alpha: the level ``p_value`` is held to.
        min_samples: the values needed before anything is decided.
        degraded: True when n ≥ min_samples and p_value < alpha.
    """

    n: int
    live_mean: float
    live_std: float
    baseline: float
    margin: float
    direction: int
    statistic: float
    p_value: float
    alpha: float
    min_samples: int
    degraded: bool


def performance_test(
    values: np.ndarray,
    baseline: float,
    *,
    direction: int = -1,
    margin: float = 0.0,
    alpha: float = 0.01,
    min_samples: int = MIN_SAMPLES,
) -> PerformanceResult:
    """Test whether the live per-outcome metric is worse than ``baseline``.

    Args:
        values: the last per-outcome values (errors, 0/1 accuracies, rewards), 1-D.
        baseline: the version's recorded metric (mean per-outcome value), e.g. its test
            squared error.
        direction: −1 when lower is better, +1 when higher is better (a ``Metric``'s).
        margin: how much worse than ``baseline`` is still acceptable (≥ 0).
        alpha: the false-alarm level of one check.
        min_samples: fewest values to decide on.

    Raises:
        ValueError: values not 1-D or not finite, a baseline or margin not finite, a
            bad direction, α or min_samples.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError("performance values must be a 1-D array of finite numbers")
    if not (math.isfinite(baseline) and math.isfinite(margin) and margin >= 0.0):
        raise ValueError(
            f"baseline and margin must be finite, margin >= 0; got {baseline}, {margin}"
        )
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 or +1, got {direction}")
    if not 0.0 < alpha < 1.0 or min_samples < 2:
        raise ValueError(f"expected 0 < alpha < 1 and min_samples >= 2; got {alpha}, {min_samples}")
    n = int(x.size)
    mean = float(x.mean()) if n else 0.0
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    # "worse" as a positive number: live beyond baseline ± margin in the bad direction
    excess = -direction * (mean - baseline) - margin
    if n < min_samples:
        statistic, p_value = 0.0, 1.0
    elif std == 0.0:  # every value equal: the excess is known exactly
        statistic = math.copysign(math.inf, excess) if excess else 0.0
        p_value = 0.0 if excess > 0 else 1.0
    else:
        statistic = excess / (std / math.sqrt(n))
        p_value = float(stats.t.sf(statistic, n - 1))
    return PerformanceResult(
        n=n,
        live_mean=mean,
        live_std=std,
        baseline=float(baseline),
        margin=float(margin),
        direction=direction,
        statistic=float(statistic),
        p_value=p_value,
        alpha=float(alpha),
        min_samples=int(min_samples),
        degraded=n >= min_samples and p_value < alpha,
    )
