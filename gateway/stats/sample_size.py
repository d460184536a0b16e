"""How many outcomes per arm a two-sided two-sample test needs to detect a given effect."""

from __future__ import annotations

import math
from statistics import NormalDist

from gateway.stats.moments import Moments
from gateway.stats.sequential import BURN_IN, cs_radius

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


def sequential_samples_per_arm(
    sigma: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    min_samples: int = 0,
    split: float = 0.5,
    tau_scale: float = 0.3,
) -> int:
    """Outcomes in the smaller arm at which the always-valid test galgate decides with
    (``gateway.stats.sequential``) detects an effect of ``mde`` with probability ``power``.

    The fixed-horizon n (``required_samples_per_arm``) is not enough for a test that may
    be looked at any time: at that n the mSPRT finds a true 0.1σ–0.2σ effect only about
    half of the time. This n is where the test's decision at that look alone already has
    the asked-for power (earlier looks only add to it), found by bisection on
    P(Δ̂ ≥ r_n) = Φ((δ − r_n)/√W_n), r_n the test's decision radius at n (its confidence
    sequence half-width) and W_n = σ²(1/n_c + 1/n_t).

    Args:
        sigma: standard deviation of the per-outcome metric (estimated from data).
        mde: the effect to detect, in the metric's units (its sign is ignored).
        alpha: the test's level.
        power: the probability of calling the better arm the winner.
        min_samples: outcomes per arm before the test counts evidence.
        split: the treatment's share of traffic.
        tau_scale: the mixture's τ in standard deviations (as the test fixes it).

    Returns:
        Outcomes needed in the smaller arm (per arm for a 50/50 split).

    >>> sequential_samples_per_arm(1.0, 0.2) > required_samples_per_arm(1.0, 0.2)
    True
    """
    if not (sigma > 0.0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    if not (mde != 0.0 and math.isfinite(mde)):
        raise ValueError(f"mde must be a non-zero finite number, got {mde}")
    if not 0.0 < split < 1.0 or not 0.0 < power < 1.0 or not 0.0 < alpha < 1.0:
        raise ValueError("split, power and alpha must be in (0, 1)")
    delta = abs(mde)
    small = min(split, 1.0 - split)
    tau2 = (tau_scale * sigma) ** 2

    def achieved(n_small: int) -> float:
        total = n_small / small
        w = sigma * sigma * (1.0 / (total * split) + 1.0 / (total * (1.0 - split)))
        radius = float(cs_radius(w, tau2, alpha))
        return _STD_NORMAL.cdf((delta - radius) / math.sqrt(w))

    # A margin of alpha/2 for a wrong-sign decision at an earlier look.
    target = min(power + alpha / 2.0, 0.999)
    low = max(int(min_samples), BURN_IN)
    if achieved(low) >= target:
        return low
    high = low * 2
    while achieved(high) < target:
        high *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if achieved(middle) >= target:
            high = middle
        else:
            low = middle
    return high
