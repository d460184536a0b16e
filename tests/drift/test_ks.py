"""Per-feature KS equals scipy's ks_2samp; Bonferroni and Benjamini–Hochberg decide as
their thresholds say; stationary windows alarm at most at α; a 0.5 sd shift is caught.

Simulated (8 features, a fresh 2,000-row reference per window, like a profile's
sample; 250 windows of 500 rows, seeds 11/21/31): stationary windows alarm in 4.0%, 5.6%
and 2.0% of windows under Bonferroni at α = 0.05, and the same under BH (whose
family-wise rate with no drift at all is α). One feature shifted by 0.5 sd is flagged
(Bonferroni) in 52–62% of windows at 50 rows, 94% at 100 rows and 98.5–99% at 150 rows:
the test promises 95% by 150 rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gateway.drift import corrected, ks_test

ALPHA = 0.05
F = 8
REFERENCE_ROWS = 2000  # converters.profile.MAX_SAMPLE_ROWS


def _binomial_bound(p: float, n: int) -> float:
    """p plus three binomial standard errors: a stationary rate above this is a defect."""
    return p + 3.0 * math.sqrt(p * (1.0 - p) / n)


def test_ks_test_statistics_and_p_values_match_scipy_per_feature() -> None:
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((700, 3)).astype(np.float32)
    live = (rng.standard_normal((90, 3)) * [1.0, 1.3, 1.0] + [0.0, 0.0, 0.4]).astype(np.float32)
    result = ks_test(live, reference)
    for j in range(3):
        want = stats.ks_2samp(live[:, j], reference[:, j])
        assert result.statistics[j] == pytest.approx(want.statistic, abs=0, rel=1e-12)
        assert result.p_values[j] == pytest.approx(want.pvalue, abs=0, rel=1e-9)
    assert (result.n_live, result.n_reference) == (90, 700)


def test_bonferroni_flags_p_values_below_alpha_over_f() -> None:
    p = np.array([0.012, 0.013, 0.2, 0.9])  # α/F = 0.0125
    mask, thresholds, threshold = corrected(p, 0.05, "bonferroni")
    assert mask.tolist() == [True, False, False, False]
    assert threshold == 0.0125 and thresholds.tolist() == [0.0125] * 4


def test_benjamini_hochberg_flags_the_largest_k_with_p_k_below_q_k_over_f() -> None:
    # sorted: 0.001 < 0.0125 (k=1), 0.02 < 0.025 (k=2), 0.04 > 0.0375 (k=3), 0.045 < 0.05 (k=4)
    # the largest passing k is 4: all four are discoveries, 0.04 included (step-up).
    p = np.array([0.045, 0.001, 0.04, 0.02])
    mask, thresholds, threshold = corrected(p, 0.05, "fdr")
    assert mask.tolist() == [True, True, True, True]
    assert threshold == pytest.approx(0.05)
    assert thresholds.tolist() == pytest.approx([0.05, 0.0125, 0.0375, 0.025])
    # without the last: sorted 0.001 (k=1 ok), 0.02 (k=2 ok), 0.04 vs 0.0375 (fails)
    p = np.array([0.3, 0.001, 0.04, 0.02])
    mask, _, threshold = corrected(p, 0.05, "fdr")
    assert mask.tolist() == [False, True, False, True]
    assert threshold == pytest.approx(0.025)


def test_benjamini_hochberg_no_discovery_has_threshold_zero() -> None:
    mask, _, threshold = corrected(np.array([0.03, 0.5]), 0.05, "fdr")
    assert not mask.any() and threshold == 0.0


def test_ks_test_decision_uses_the_correction_it_names() -> None:
    rng = np.random.default_rng(2)
    reference = rng.standard_normal((2000, 4))
    live = rng.standard_normal((120, 4)) + np.array([0.0, 0.0, 0.3, 0.6])
    for correction in ("bonferroni", "fdr"):
        result = ks_test(live, reference, correction=correction)
        mask, _, threshold = corrected(np.array(result.p_values), ALPHA, correction)
        assert result.drifted == tuple(np.flatnonzero(mask))
        assert result.drift == bool(mask.any()) and result.threshold == threshold
        assert result.correction == correction


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("side", ["live", "reference"])
def test_ks_test_non_finite_input_raises_value_error(bad: float, side: str) -> None:
    arrays = {"live": np.zeros((5, 2)), "reference": np.ones((9, 2))}
    arrays[side][1, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        ks_test(arrays["live"], arrays["reference"])


@pytest.mark.parametrize(
    ("live", "reference"),
    [(np.zeros((5, 3)), np.zeros((9, 2))), (np.zeros((0, 2)), np.zeros((9, 2))),
     (np.zeros(5), np.zeros((9, 1)))],
)  # fmt: skip
def test_ks_test_shapes_that_do_not_match_raise_value_error(live, reference) -> None:
    with pytest.raises(ValueError, match="shape"):
        ks_test(live, reference)


def test_ks_test_unknown_correction_raises_value_error() -> None:
    with pytest.raises(ValueError, match="bonferroni"):
        ks_test(np.zeros((3, 1)), np.ones((3, 1)), correction="holm")  # type: ignore[arg-type]


@pytest.mark.parametrize("correction", ["bonferroni", "fdr"])
def test_ks_test_stationary_windows_alarm_at_most_alpha(correction: str) -> None:
    windows = 250
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(windows):
        reference = rng.standard_normal((REFERENCE_ROWS, F)).astype(np.float32)
        live = rng.standard_normal((500, F)).astype(np.float32)
        alarms += ks_test(live, reference, correction=correction).drift
    assert alarms / windows <= _binomial_bound(ALPHA, windows)  # 0.091 at 250 windows


def test_ks_test_half_sd_shift_of_one_feature_flagged_within_150_rows() -> None:
    windows, rows = 200, 150
    rng = np.random.default_rng(12)
    reference = rng.standard_normal((REFERENCE_ROWS, F)).astype(np.float32)
    flagged = 0
    for _ in range(windows):
        live = rng.standard_normal((rows, F))
        live[:, 3] += 0.5
        flagged += 3 in ks_test(live.astype(np.float32), reference).drifted
    assert flagged / windows >= 0.95  # simulated 98.5%
