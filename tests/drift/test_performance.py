"""Performance drift: the one-sided t-test equals scipy's, degraded errors are flagged,
equal errors alarm at most at α, and nothing is decided on too few values.

Simulated (seed 31, α = 0.01, 2,000 runs each): the false-alarm rate with live errors
from the baseline's own distribution is 0.2% for squared errors (χ²₁) at n = 100 and at
n = 30, 0.55% for absolute errors at n = 50, 0.7% for accuracy (p = 0.8) at n = 200 and
0.95% for normal errors (the right-skew of squared errors makes the upper-tail test
conservative). Power: squared errors 30% above baseline are flagged in 44% of windows of
200 and 95% of windows of 500; 50% above in 92% of windows of 200.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gateway.drift import performance_test

ALPHA = 0.01


def _bound(p: float, n: int) -> float:
    return p + 3.0 * math.sqrt(p * (1.0 - p) / n)


def test_performance_test_equals_scipy_one_sided_t_test() -> None:
    x = np.random.default_rng(30).standard_normal(80) ** 2 * 1.2
    result = performance_test(x, 1.0, margin=0.05)
    want = stats.ttest_1samp(x, 1.05, alternative="greater")
    assert result.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert (result.n, result.live_mean) == (80, pytest.approx(float(x.mean())))


def test_performance_test_higher_is_better_tests_the_lower_tail() -> None:
    x = (np.random.default_rng(32).random(300) < 0.7).astype(float)
    result = performance_test(x, 0.8, direction=1)
    want = stats.ttest_1samp(x, 0.8, alternative="less")
    assert result.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert result.degraded


CASES = {
    # name: (sampler, baseline, direction, n)
    "squared_error": (lambda rng, n: rng.standard_normal(n) ** 2, 1.0, -1, 100),
    "squared_error_small": (lambda rng, n: rng.standard_normal(n) ** 2, 1.0, -1, 30),
    "absolute_error": (lambda rng, n: np.abs(rng.standard_normal(n)), math.sqrt(2 / math.pi),
                       -1, 50),
    "accuracy": (lambda rng, n: (rng.random(n) < 0.8).astype(float), 0.8, 1, 200),
    "normal": (lambda rng, n: rng.standard_normal(n) + 2.0, 2.0, -1, 100),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_performance_test_equal_errors_alarm_at_most_alpha(case: str) -> None:
    draw, baseline, direction, n = CASES[case]
    rng = np.random.default_rng(31)
    runs = 2000
    alarms = sum(
        performance_test(draw(rng, n), baseline, direction=direction).degraded for _ in range(runs)
    )
    assert alarms / runs <= _bound(ALPHA, runs)  # 0.0167


def test_performance_test_errors_50_percent_above_baseline_flagged() -> None:
    rng = np.random.default_rng(33)
    runs = 300
    flagged = sum(
        performance_test(rng.standard_normal(500) ** 2 * 1.5, 1.0).degraded for _ in range(runs)
    )
    assert flagged / runs >= 0.99  # simulated: 100%


def test_performance_test_too_few_values_decides_nothing() -> None:
    result = performance_test(np.full(29, 100.0), 1.0)
    assert (result.degraded, result.p_value, result.n) == (False, 1.0, 29)


def test_performance_test_constant_values_are_exact_evidence() -> None:
    worse = performance_test(np.full(40, 2.0), 1.0)
    assert worse.degraded and worse.p_value == 0.0 and worse.statistic == math.inf
    same = performance_test(np.full(40, 1.0), 1.0)
    assert not same.degraded and same.p_value == 1.0


def test_performance_test_within_margin_is_not_degraded() -> None:
    x = np.random.default_rng(34).standard_normal(2000) * 0.1 + 1.05
    assert performance_test(x, 1.0).degraded
    assert not performance_test(x, 1.0, margin=0.1).degraded


@pytest.mark.parametrize(
    "kwargs",
    [{"direction": 0}, {"alpha": 0.0}, {"min_samples": 1}, {"margin": -0.1},
     {"baseline": math.nan}],
)  # fmt: skip
def test_performance_test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    args = {"baseline": 1.0, **kwargs}
    with pytest.raises(ValueError):
        performance_test(np.ones(40), **args)


def test_performance_test_non_finite_value_raises_value_error() -> None:
    with pytest.raises(ValueError, match="finite"):
        performance_test(np.array([1.0, math.inf] * 20), 1.0)
