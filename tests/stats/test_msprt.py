"""The mSPRT: reference formula, always-valid under continuous peeking, and powerful.

The simulations draw each look's batch of outcomes with numpy, then feed cumulative
moments (merged batch by batch, as the monitor does) through the real SequentialTest.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gateway.stats import (
    REWARD,
    Moments,
    SequentialTest,
    welch_test,
    winner,
)

RUNS = 2000
LOOKS = 100
BATCH = 20
ALPHA = 0.05


def _batch_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-batch (mean, m2) of an array shaped (runs, looks, batch)."""
    mean = x.mean(axis=2)
    return mean, ((x - mean[..., None]) ** 2).sum(axis=2)


def _looks(
    c_mean: np.ndarray, c_m2: np.ndarray, t_mean: np.ndarray, t_m2: np.ndarray, n_c: int, n_t: int
):
    """Yield, per look, the cumulative (control, treatment) Moments of one run."""
    control, treatment = Moments(), Moments()
    for k in range(c_mean.shape[0]):
        control = control.merge(Moments(n_c, float(c_mean[k]), float(c_m2[k])))
        treatment = treatment.merge(Moments(n_t, float(t_mean[k]), float(t_m2[k])))
        yield control, treatment


@pytest.fixture(scope="module")
def null_batches() -> tuple[np.ndarray, ...]:
    """A/A data: equal means, unequal variances (sd 1 vs 2), RUNS × LOOKS × BATCH per arm."""
    rng = np.random.default_rng(2024)
    c = rng.normal(5.0, 1.0, (RUNS, LOOKS, BATCH))
    t = rng.normal(5.0, 2.0, (RUNS, LOOKS, BATCH))
    return (*_batch_moments(c), *_batch_moments(t))


def _upper_95(k: int, n: int) -> float:
    return stats.binomtest(k, n).proportion_ci(confidence_level=0.95).high


def test_sequential_test_aa_looked_at_100_times_keeps_false_positives_under_alpha(
    null_batches: tuple[np.ndarray, ...],
) -> None:
    """2000 A/A experiments, looked at after each of 100 batches of 20 outcomes per arm.

    A false positive is a run that ever becomes decisive. We assert the upper end of the
    Clopper–Pearson 95% interval of the false-positive rate is ≤ α = 0.05: with 2000 runs
    that interval is about ±0.008 wide around a rate near 0.02, so the bound is meaningful
    (a test as bad as the fixed-horizon one below, 0.37 at 100 looks, could not pass).
    """
    c_mean, c_m2, t_mean, t_m2 = null_batches
    false_positives = 0
    for run in range(RUNS):
        test = SequentialTest(alpha=ALPHA)
        for control, treatment in _looks(
            c_mean[run], c_m2[run], t_mean[run], t_m2[run], BATCH, BATCH
        ):
            if test.update(control, treatment).decisive:
                false_positives += 1
                break
    assert _upper_95(false_positives, RUNS) <= ALPHA, false_positives / RUNS


def test_sequential_test_aa_unequal_arm_sizes_keeps_false_positives_under_alpha() -> None:
    """A/A with a 25/75 allocation (5 vs 15 per look, 100 looks), 1000 runs.

    Checks the Var(Δ̂) = s_c²/n_c + s_t²/n_t weighting; the Clopper–Pearson 95% upper bound
    of the false-positive rate must be ≤ α.
    """
    runs, rng = 1000, np.random.default_rng(77)
    c = _batch_moments(rng.normal(0.0, 3.0, (runs, LOOKS, 5)))
    t = _batch_moments(rng.normal(0.0, 1.0, (runs, LOOKS, 15)))
    false_positives = 0
    for run in range(runs):
        test = SequentialTest(alpha=ALPHA)
        for control, treatment in _looks(c[0][run], c[1][run], t[0][run], t[1][run], 5, 15):
            if test.update(control, treatment).decisive:
                false_positives += 1
                break
    assert _upper_95(false_positives, runs) <= ALPHA, false_positives / runs


def test_fixed_horizon_welch_looked_at_20_times_inflates_false_positives(
    null_batches: tuple[np.ndarray, ...],
) -> None:
    """The same harness catches peeking: a Welch test at each of 20 looks (20 per arm each)
    declares a winner in ≈ 0.24 of A/A runs (REFERENCE), far above α; the Clopper–Pearson
    95% lower bound must exceed 3α, and the rate must sit near the reference value."""
    c_mean, c_m2, t_mean, t_m2 = null_batches
    looks = 20
    false_positives = 0
    for run in range(RUNS):
        for control, treatment in _looks(
            c_mean[run, :looks], c_m2[run, :looks], t_mean[run, :looks], t_m2[run, :looks],
            BATCH, BATCH,
        ):  # fmt: skip
            if welch_test(control, treatment).p_value < ALPHA:
                false_positives += 1
                break
    rate = false_positives / RUNS
    assert stats.binomtest(false_positives, RUNS).proportion_ci().low > 3 * ALPHA, rate
    assert rate == pytest.approx(0.24, abs=0.05)


@pytest.mark.parametrize(("delta", "max_median_n"), [(0.2, 800), (0.3, 400), (0.5, 160)])
def test_sequential_test_real_effect_detected_in_most_runs(delta: float, max_median_n: int) -> None:
    """δ in units of σ; 300 runs, looks of 20 per arm up to 2000 per arm.

    At 2000 per arm a fixed-horizon test has power > 0.99 even at δ = 0.2σ, so ≥ 95% of
    runs must stop, every one of them naming treatment the winner, with a median stopping
    size within a small multiple of the fixed-horizon n for 80% power (197/88/32).
    """
    runs, rng = 300, np.random.default_rng(int(delta * 100))
    c = _batch_moments(rng.normal(0.0, 1.0, (runs, LOOKS, BATCH)))
    t = _batch_moments(rng.normal(delta, 1.0, (runs, LOOKS, BATCH)))
    stopped_at = []
    for run in range(runs):
        test = SequentialTest(alpha=ALPHA)
        for control, treatment in _looks(c[0][run], c[1][run], t[0][run], t[1][run], 20, 20):
            result = test.update(control, treatment)
            if result.decisive:
                assert winner(result, REWARD, ALPHA) == "treatment"
                stopped_at.append(result.n_treatment)
                break
    assert len(stopped_at) >= 0.95 * runs
    assert np.median(stopped_at) <= max_median_n


def test_sequential_test_equal_arms_matches_reference_formula() -> None:
    """n_c = n_t = n: ln Λ equals ln of √(V/(V+nτ²))·exp(n²τ²Δ̂²/(2V(V+nτ²))), V = s_c²+s_t²."""
    n, tau = 400, 0.3
    control, treatment = Moments(n, 1.0, (n - 1) * 2.0), Moments(n, 1.25, (n - 1) * 3.0)
    v, d = 2.0 + 3.0, 0.25
    want = 0.5 * math.log(v / (v + n * tau**2)) + n**2 * tau**2 * d**2 / (2 * v * (v + n * tau**2))
    result = SequentialTest(alpha=ALPHA, tau=tau).update(control, treatment)
    assert result.log_lambda == pytest.approx(want, rel=1e-12)
    assert result.p_value == pytest.approx(min(1.0, math.exp(-want)), rel=1e-12)
    assert result.decisive is (want >= math.log(1 / ALPHA))


def test_sequential_test_p_value_never_increases_and_decision_sticks() -> None:
    test = SequentialTest(alpha=ALPHA, tau=1.0)
    strong = test.update(Moments(100, 0.0, 99.0), Moments(100, 0.6, 99.0))
    weak = test.update(Moments(200, 0.0, 199.0), Moments(200, 0.0, 199.0))
    assert strong.decisive and weak.decisive
    assert weak.log_lambda < 0 < strong.log_lambda
    assert weak.p_value == strong.p_value < ALPHA


def test_sequential_test_overwhelming_evidence_does_not_overflow() -> None:
    result = SequentialTest(tau=1.0).update(Moments(10**6, 0.0, 1e6), Moments(10**6, 50.0, 1e6))
    assert result.log_lambda > 1e6
    assert result.p_value == 0.0
    assert result.decisive


def test_sequential_test_before_burn_in_counts_no_evidence() -> None:
    test = SequentialTest(alpha=ALPHA, burn_in=30)
    result = test.update(Moments(29, 0.0, 28.0), Moments(500, 9.0, 499.0))
    assert (result.log_lambda, result.p_value, result.decisive) == (0.0, 1.0, False)
    assert test.tau2 is None


def test_sequential_test_tau_fixed_once_from_burn_in_variance() -> None:
    test = SequentialTest(alpha=ALPHA, burn_in=20, tau_scale=0.5)
    test.update(Moments(20, 0.0, 19 * 4.0), Moments(20, 0.0, 19 * 4.0))
    assert test.tau2 == pytest.approx(0.25 * 4.0)
    test.update(Moments(40, 0.0, 39 * 100.0), Moments(40, 0.0, 39 * 100.0))
    assert test.tau2 == pytest.approx(0.25 * 4.0)


def test_sequential_test_zero_variance_counts_no_evidence() -> None:
    result = SequentialTest(tau=1.0).update(Moments(50, 1.0, 0.0), Moments(50, 2.0, 0.0))
    assert (result.log_lambda, result.p_value, result.decisive) == (0.0, 1.0, False)


def test_sequential_test_state_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(9)
    looks = [
        (Moments.of(rng.normal(0, 1, n).tolist()), Moments.of(rng.normal(0.1, 1, n).tolist()))
        for n in range(20, 400, 40)
    ]
    original = SequentialTest(alpha=0.1)
    for control, treatment in looks[:4]:
        original.update(control, treatment)
    resumed = SequentialTest.from_state(original.state())
    assert resumed.state() == original.state()
    for control, treatment in looks[4:]:
        assert resumed.update(control, treatment) == original.update(control, treatment)


@pytest.mark.parametrize(
    "kwargs", [{"alpha": 0.0}, {"tau": -1.0}, {"burn_in": 1}, {"tau_scale": 0.0}]
)
def test_sequential_test_invalid_parameter_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SequentialTest(**kwargs)
