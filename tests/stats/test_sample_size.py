"""Required sample size follows the formula and really delivers the promised power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gateway.stats import Moments, pooled_sigma, required_samples_per_arm, welch_test


@pytest.mark.parametrize(
    ("sigma", "mde", "alpha", "power"),
    [
        (1.0, 0.5, 0.05, 0.8),
        (2.0, 0.1, 0.01, 0.9),
        (0.003, -0.001, 0.1, 0.5),
        (50.0, 7.0, 0.05, 0.95),
    ],
)
def test_required_samples_per_arm_matches_direct_formula(
    sigma: float, mde: float, alpha: float, power: float
) -> None:
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    want = math.ceil(2 * z**2 * sigma**2 / mde**2)
    assert required_samples_per_arm(sigma, mde, alpha=alpha, power=power) == want


def test_required_samples_per_arm_real_effect_is_detected_with_promised_power() -> None:
    """2000 simulated experiments at n = required_samples_per_arm(σ=2, δ=0.5) per arm.

    The observed power should be ≈ 0.80; its binomial standard error over 2000 runs is
    sqrt(0.8·0.2/2000) ≈ 0.009, so ±0.04 is ≈ 4.5 standard errors: a correct formula
    fails this with negligible probability, while a formula off by a factor √2 in n
    (power 0.61 or 0.94) fails it for certain.
    """
    sigma, mde, runs = 2.0, 0.5, 2000
    n = required_samples_per_arm(sigma, mde)
    rng = np.random.default_rng(11)
    control = rng.normal(0.0, sigma, (runs, n))
    treatment = rng.normal(mde, sigma, (runs, n))
    mc, mt = control.mean(1), treatment.mean(1)
    m2c = ((control - mc[:, None]) ** 2).sum(1)
    m2t = ((treatment - mt[:, None]) ** 2).sum(1)
    detected = sum(
        welch_test(Moments(n, mc[i], m2c[i]), Moments(n, mt[i], m2t[i])).p_value < 0.05
        for i in range(runs)
    )
    assert detected / runs == pytest.approx(0.8, abs=0.04)


def test_pooled_sigma_equals_pooled_sample_standard_deviation() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 40), rng.normal(3, 2, 60)
    want = math.sqrt((39 * a.var(ddof=1) + 59 * b.var(ddof=1)) / 98)
    ma = Moments(40, float(a.mean()), float(((a - a.mean()) ** 2).sum()))
    mb = Moments(60, float(b.mean()), float(((b - b.mean()) ** 2).sum()))
    assert pooled_sigma(ma, mb) == pytest.approx(want, rel=1e-12)


def test_pooled_sigma_too_few_values_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        pooled_sigma(Moments(1, 0.0, 0.0), Moments(1, 1.0, 0.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": 0.0, "mde": 1.0}, "sigma"),
        ({"sigma": 1.0, "mde": 0.0}, "mde"),
        ({"sigma": 1.0, "mde": 1.0, "alpha": 0.0}, "alpha"),
        ({"sigma": 1.0, "mde": 1.0, "power": 1.0}, "power"),
    ],
)
def test_required_samples_per_arm_invalid_input_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        required_samples_per_arm(**kwargs)
