"""Welch's test equals scipy's (statistic, p-value, dof, confidence interval) and never NaNs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gateway.stats import Moments, welch_test


def _moments(x: np.ndarray) -> Moments:
    return Moments(int(x.size), float(x.mean()), float(((x - x.mean()) ** 2).sum()))


CASES = [
    # (n_control, sd_control, n_treatment, sd_treatment, true diff)
    (30, 1.0, 30, 1.0, 0.0),
    (12, 1.0, 200, 3.0, 0.5),
    (500, 2.0, 40, 0.5, -0.3),
    (3, 10.0, 2, 0.1, 1.0),
]


@pytest.mark.parametrize(("n_c", "sd_c", "n_t", "sd_t", "delta"), CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_welch_test_raw_samples_matches_scipy_ttest_ind(
    n_c: int, sd_c: float, n_t: int, sd_t: float, delta: float, alpha: float
) -> None:
    rng = np.random.default_rng(n_c * 1000 + n_t)
    control = rng.normal(10.0, sd_c, n_c)
    treatment = rng.normal(10.0 + delta, sd_t, n_t)
    got = welch_test(_moments(control), _moments(treatment), alpha=alpha)
    want = stats.ttest_ind(treatment, control, equal_var=False)
    ci = want.confidence_interval(confidence_level=1 - alpha)
    assert got.defined
    assert got.diff == pytest.approx(treatment.mean() - control.mean(), rel=1e-12)
    assert got.t == pytest.approx(want.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.dof == pytest.approx(want.df, rel=1e-9)
    assert (got.ci_low, got.ci_high) == (
        pytest.approx(ci.low, rel=1e-9),
        pytest.approx(ci.high, rel=1e-9),
    )
    assert (got.n_control, got.n_treatment) == (n_c, n_t)


@pytest.mark.parametrize(("n_c", "sd_c", "n_t", "sd_t", "delta"), CASES)
def test_welch_test_sufficient_statistics_matches_ttest_ind_from_stats(
    n_c: int, sd_c: float, n_t: int, sd_t: float, delta: float
) -> None:
    control = Moments(n_c, 1.0, (n_c - 1) * sd_c**2)
    treatment = Moments(n_t, 1.0 + delta + 0.05, (n_t - 1) * sd_t**2)
    got = welch_test(control, treatment)
    want = stats.ttest_ind_from_stats(
        treatment.mean, sd_t, n_t, control.mean, sd_c, n_c, equal_var=False
    )
    assert got.t == pytest.approx(want.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    s1, s2 = sd_t**2 / n_t, sd_c**2 / n_c
    dof = (s1 + s2) ** 2 / (s1**2 / (n_t - 1) + s2**2 / (n_c - 1))
    assert got.dof == pytest.approx(dof, rel=1e-12)


def test_welch_test_effect_size_is_cohens_d_with_pooled_sd() -> None:
    control, treatment = Moments(40, 2.0, 39 * 4.0), Moments(10, 3.0, 9 * 1.0)
    pooled = math.sqrt((39 * 4.0 + 9 * 1.0) / 48)
    assert welch_test(control, treatment).effect_size == pytest.approx(1.0 / pooled)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (Moments(), Moments()),
        (Moments(1, 5.0, 0.0), Moments(50, 1.0, 49.0)),
        (Moments(50, 1.0, 49.0), Moments(1, 5.0, 0.0)),
        (Moments(20, 1.0, 0.0), Moments(20, 2.0, 0.0)),
    ],
    ids=["empty", "one-control", "one-treatment", "zero-variance"],
)
def test_welch_test_undefined_input_gives_no_evidence_and_no_nan(
    control: Moments, treatment: Moments
) -> None:
    r = welch_test(control, treatment)
    assert not r.defined
    assert (r.p_value, r.t, r.dof, r.effect_size) == (1.0, 0.0, 0.0, 0.0)
    assert (r.ci_low, r.ci_high, r.se) == (-math.inf, math.inf, math.inf)
    assert not any(math.isnan(v) for v in (r.diff, r.se, r.ci_low, r.ci_high))


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the constant arm
def test_welch_test_one_constant_arm_still_matches_scipy() -> None:
    control = np.full(15, 2.0)
    treatment = np.random.default_rng(1).normal(2.5, 1.0, 25)
    got = welch_test(_moments(control), _moments(treatment))
    want = stats.ttest_ind(treatment, control, equal_var=False)
    assert got.defined
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.dof == pytest.approx(want.df, rel=1e-9)


def test_welch_test_alpha_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="alpha"):
        welch_test(Moments(5, 0.0, 4.0), Moments(5, 0.0, 4.0), alpha=1.5)
