"""PSI on a hand-computed example, ~0 on identical distributions, significant on a clear
shift, and quiet at the 0.1 rule only with a window large enough for 30 bins.

Simulated (seed 21, standard normal, a 20,000-row training set's percentile table, 30
bins, 100 windows of 8 features): a stationary window's PSI averages 0.164 at 200 rows,
0.061 at 500, 0.031 at 1,000 and 0.016 at 2,000 (≈ 29/n: PSI·n is roughly χ² with 29
degrees of freedom). Per feature the 0.1 rule alarms on 92% of stationary windows at 200
rows, 2.6% at 500 and none of 800 at 1,000: it needs about 1,000 rows per window to be
quiet (and about 500 to be usable).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.drift import psi_bins, psi_test, psi_value, quantile_table
from gateway.drift.psi import EPSILON, stability

# the quantile function of a 5-point table: 0, 1, 2, 3, 4 at levels 0, .25, .5, .75, 1
TABLE = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])


def test_psi_hand_computed_example() -> None:
    # 4 bins: (-inf, 1], (1, 2], (2, 3], (3, inf), each with a quarter of the reference
    live = np.array([[0.5], [1.0], [1.5], [2.5], [2.5], [3.0], [3.5], [3.5]])
    # shares: 2/8, 1/8, 3/8, 2/8 (1.0 and 3.0 fall in the bins they close)
    want = (0.125 - 0.25) * math.log(0.125 / 0.25) + (0.375 - 0.25) * math.log(0.375 / 0.25)
    result = psi_test(live, TABLE, bins=4)
    assert result.values[0] == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(0.1373265, abs=1e-7)
    assert result.levels == ("moderate",) and result.drift


def test_psi_empty_bins_use_epsilon() -> None:
    live = np.full((4, 1), 0.5)  # every row in the first bin, three bins empty
    want = (1.0 - 0.25) * math.log(1.0 / 0.25) + 3 * (EPSILON - 0.25) * math.log(EPSILON / 0.25)
    assert psi_test(live, TABLE, bins=4).values[0] == pytest.approx(want, rel=1e-12)
    assert EPSILON == 1e-4


def test_psi_value_is_zero_for_equal_shares_and_symmetric() -> None:
    e, a = np.array([0.2, 0.3, 0.5]), np.array([0.3, 0.3, 0.4])
    assert psi_value(e, e) == 0.0
    assert psi_value(e, a) == pytest.approx(psi_value(a, e))


def test_psi_bins_of_a_continuous_feature_are_about_equal_shares() -> None:
    table = quantile_table(np.random.default_rng(20).standard_normal((10_000, 1)))
    bins = psi_bins(table[0])
    assert bins.edges.size == 29
    assert bins.expected.sum() == pytest.approx(1.0)
    assert np.all((bins.expected > 0.029) & (bins.expected < 0.041))


def test_psi_bins_of_a_binary_feature_keep_its_atoms() -> None:
    rng = np.random.default_rng(22)
    table = quantile_table((rng.random((5000, 1)) < 0.3).astype(float))
    bins = psi_bins(table[0])
    assert bins.edges.tolist() == [0.0, 1.0]
    assert bins.expected == pytest.approx([0.7, 0.3, 0.0], abs=0.011)
    same = (rng.random((1000, 1)) < 0.3).astype(float)
    assert psi_test(same, table).values[0] < 0.01
    shifted = (rng.random((1000, 1)) < 0.5).astype(float)
    assert psi_test(shifted, table).drift


def test_psi_identical_distribution_is_about_zero() -> None:
    x = np.random.default_rng(23).standard_normal((20_000, 3))
    assert max(psi_test(x, quantile_table(x)).values) < 1e-6


def test_psi_clear_shift_is_significant() -> None:
    rng = np.random.default_rng(24)
    table = quantile_table(rng.standard_normal((20_000, 2)))
    result = psi_test(rng.standard_normal((1000, 2)) + np.array([0.0, 1.0]), table)
    assert result.values[1] > 0.25 and result.levels[1] == "significant"
    assert result.drifted == (1,)


def _stationary_alarm_rate(rows: int, windows: int = 100, features: int = 8) -> float:
    rng = np.random.default_rng(21)
    table = quantile_table(rng.standard_normal((20_000, features)))
    alarms = 0
    for _ in range(windows):
        alarms += len(psi_test(rng.standard_normal((rows, features)), table).drifted)
    return alarms / (windows * features)


def test_psi_stationary_window_of_1000_rows_is_quiet_at_the_0_1_rule() -> None:
    assert _stationary_alarm_rate(1000) <= 0.01  # simulated: 0 of 800


def test_psi_stationary_window_of_200_rows_is_too_small_for_30_bins() -> None:
    assert _stationary_alarm_rate(200) >= 0.5  # simulated: 93%


def test_stability_reading_of_the_rules_of_thumb() -> None:
    assert [stability(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "moderate", "moderate", "significant"]  # fmt: skip


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_psi_non_finite_live_value_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        psi_test(np.array([[0.5], [bad]]), TABLE)


def test_psi_table_of_other_width_raises_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        psi_test(np.zeros((4, 2)), TABLE)


def test_psi_bins_decreasing_quantiles_raise_value_error() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        psi_bins(np.array([0.0, 2.0, 1.0]))
