"""How many outcomes per arm a two-sided two-sample test needs to detect a given effect."""

from __future__ import annotations

import math
from statistics import NormalDist

from gateway.stats.moments import Moments

_STD_NORMAL = NormalDist()


def required_samples_per_arm(
    sigma: float, mde: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """n per arm = ceil(2 (z_{1−α/2} + z_{1−β})² σ² / δ²), the normal-approximation formula.

    Args:
        sigma: standard deviation of the per-outcome metric, estimated from data
            (for instance ``pooled_sigma`` of a burn-in), not assumed to be 1.
        mde: minimum detectable effect δ, in the metric's units; its sign is ignored.
        alpha: two-sided significance level.
        power: 1 − β, the probability of detecting a true effect of size ``mde``.

    Returns:
        The number of outcomes needed in each arm.

    >>> required_samples_per_arm(1.0, 0.5)
    63
    >>> required_samples_per_arm(2.0, 0.1, alpha=0.01, power=0.9)
    11904
    """
    if not (sigma > 0.0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    if not (mde != 0.0 and math.isfinite(mde)):
        raise ValueError(f"mde must be a non-zero finite number, got {mde}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    z = _STD_NORMAL.inv_cdf(1.0 - alpha / 2.0) + _STD_NORMAL.inv_cdf(power)
    return math.ceil(2.0 * z * z * sigma * sigma / (mde * mde))


def pooled_sigma(a: Moments, b: Moments) -> float:
    """Pooled within-arm standard deviation sqrt((m2_a + m2_b) / (n_a + n_b − 2)).

    >>> pooled_sigma(Moments(3, 0.0, 2.0), Moments(3, 10.0, 6.0))
    1.4142135623730951

    Raises:
        ValueError: the two arms hold fewer than three values in all (no degree of freedom).
    """
    dof = a.n + b.n - 2
    if dof < 1:
        raise ValueError(f"pooled sigma needs at least 3 values over both arms, got {a.n} + {b.n}")
    return math.sqrt((a.m2 + b.m2) / dof)
