"""The always-valid tests: formulas against their definitions, and each way the old
evidence gathering let a false winner or a false loss stop through."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from gateway.stats import Moments, sequential
from gateway.stats.sequential import Arms, Config, State, log_mixture, log_mixture_one_sided

ALPHA = 0.05


def _run(looks, config: Config | None = None) -> tuple[State, list[sequential.Look]]:
    config = config or Config()
    state = State.fresh()
    seen = [sequential.step(state, Arms.of(c, t), config) for c, t in looks]
    return state, seen


def _binary(successes: int, n: int) -> Moments:
    return Moments.of([1.0] * successes + [0.0] * (n - successes))


def _winner(state: State) -> str:
    return {1: "treatment", -1: "control", 0: ""}[int(state.winner[0])]


def test_log_mixture_equals_the_reference_formula_for_equal_arms() -> None:
    """Λₙ = √(V/(V+nτ²)) · exp(n²τ²Δ̂²/(2V(V+nτ²))) with V = σ_c² + σ_t² (REFERENCE.md)."""
    n, var, tau2, diff = 400, 1.3, 0.04, 0.21
    v = 2 * var
    reference = 0.5 * math.log(v / (v + n * tau2)) + n * n * tau2 * diff**2 / (
        2 * v * (v + n * tau2)
    )
    w = var * (1 / n + 1 / n)
    assert float(log_mixture(np.array(diff), np.array(w), np.array(tau2))) == pytest.approx(
        reference, rel=1e-12
    )


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("d", [-0.3, -0.02, 0.0, 0.05, 0.4])
def test_one_sided_mixture_equals_its_half_normal_integral(side: int, d: float) -> None:
    w, tau2 = 0.01, 0.09

    def integrand(u: float) -> float:  # likelihood ratio of θ₀ + side·u, half-normal weight
        theta = side * u
        ratio = math.exp((theta * d - theta * theta / 2) / w)
        return 2 * stats.norm.pdf(u, scale=math.sqrt(tau2)) * ratio

    value, _ = integrate.quad(integrand, 0, np.inf)
    got = float(log_mixture_one_sided(np.array(d), np.array(w), np.array(tau2), side))
    assert got == pytest.approx(math.log(value), abs=1e-7)
    # The two one-sided mixtures average to the two-sided one.
    other = float(log_mixture_one_sided(np.array(d), np.array(w), np.array(tau2), -side))
    both = float(log_mixture(np.array(d), np.array(w), np.array(tau2)))
    assert math.exp(got) + math.exp(other) == pytest.approx(2 * math.exp(both), rel=1e-9)


def test_confidence_sequence_bounds_are_where_the_evidence_reaches_one_over_alpha() -> None:
    w, tau2, diff = np.array(0.004), np.array(0.02), 0.3
    r = float(sequential.cs_radius(w, tau2, ALPHA))
    for theta0 in (diff - r, diff + r):
        assert float(log_mixture(np.array(diff - theta0), w, tau2)) == pytest.approx(
            math.log(1 / ALPHA), rel=1e-10
        )


def test_rare_events_in_a_small_arm_are_not_a_winner() -> None:
    """control 0/60 vs treatment 11/540 was decisive (p = 0.029); 2/100 vs 19/900 called a
    treatment winner while Welch's p was 0.94."""
    for control, treatment in (
        (_binary(0, 60), _binary(11, 540)),
        (_binary(2, 100), _binary(19, 900)),
    ):
        state, [look] = _run([(control, treatment)], Config(min_samples=20))
        assert _winner(state) == "" and not look.decided
        assert float(state.p[0]) > ALPHA


def test_evidence_before_min_samples_does_not_decide_later() -> None:
    """A look at 40 per arm decisive for control, then 100 per arm with a tiny positive
    difference, used to call 'treatment' from the current sign."""
    state, looks = _run(
        [
            (Moments(40, 0.8, 39.0), Moments(40, 0.0, 39.0)),
            (Moments(100, 0.0, 99.0), Moments(100, 0.01, 99.0)),
        ],
        Config(min_samples=100),
    )
    assert [bool(look.decided[0]) for look in looks] == [False, False]
    assert _winner(state) == ""


def test_the_winner_is_the_arm_favoured_when_the_evidence_became_decisive() -> None:
    state, looks = _run(
        [
            (Moments(200, 0.0, 199.0), Moments(200, 0.5, 199.0)),  # decisive: treatment
            (Moments(400, 0.3, 399.0), Moments(400, 0.2, 399.0)),  # later the sign flips
        ]
    )
    assert bool(looks[0].decided[0]) and not bool(looks[1].decided[0])
    assert _winner(state) == "treatment"


@pytest.mark.parametrize("direction", [1, -1])
def test_loss_test_is_one_sided_and_never_fires_from_a_clear_non_loss(direction: int) -> None:
    """A look with the treatment clearly better (diff +0.8 at n = 40), then a small dip
    (−0.11 at n = 100) used to stop the experiment as a loss."""
    config = Config(min_samples=10_000, direction=direction, max_loss=0.1)
    better, dip = 0.8 * direction, -0.11 * direction
    state, looks = _run(
        [
            (Moments(40, 0.0, 39.0), Moments(40, better, 39.0)),
            (Moments(100, 0.0, 99.0), Moments(100, dip, 99.0)),
        ],
        config,
    )
    assert not state.loss[0] and not any(bool(look.lost[0]) for look in looks)
    # A real loss far beyond max_loss stops it at once, before min_samples.
    state, [look] = _run([(Moments(100, 0.0, 99.0), Moments(100, -1.0 * direction, 99.0))], config)
    assert bool(look.lost[0]) and bool(state.loss[0]) and _winner(state) == ""


def test_zero_variance_in_both_arms_with_different_means_is_maximal_evidence() -> None:
    """accuracy 1.0 against 0.0 at 100,000 per arm gave p = 1 and no winner."""
    state, _ = _run([(_binary(0, 100_000), _binary(100_000, 100_000))])
    assert _winner(state) == "treatment" and float(state.p[0]) < 1e-100
    # Both arms equal and constant: no evidence either way.
    state, _ = _run([(_binary(50, 50), _binary(80, 80))])
    assert _winner(state) == "" and float(state.p[0]) == 1.0


def test_p_value_and_confidence_sequence_only_tighten() -> None:
    rng = np.random.default_rng(0)
    control, treatment = Moments(), Moments()
    state = State.fresh()
    previous = (1.0, -math.inf, math.inf)
    for _ in range(40):
        control = control.merge(Moments.of(rng.normal(0.0, 1.0, 25)))
        treatment = treatment.merge(Moments.of(rng.normal(0.05, 1.0, 25)))
        sequential.step(state, Arms.of(control, treatment), Config())
        now = (float(state.p[0]), float(state.cs_low[0]), float(state.cs_high[0]))
        assert now[0] <= previous[0] and now[1] >= previous[1] and now[2] <= previous[2]
        previous = now
    assert previous[1] < 0.05 < previous[2]  # the true difference is inside


def test_skewed_small_arm_waits_for_enough_outcomes() -> None:
    """2% events: the smaller arm needs about 16·γ² outcomes (≈ 15 expected events) before
    its mean is near enough to normal to count as evidence."""
    control, treatment = _binary(2, 100), _binary(200, 10_000)
    assert not sequential.gate(Arms.of(control, treatment))[0]
    control = _binary(16, 800)
    assert sequential.gate(Arms.of(control, treatment))[0]


def test_config_is_checked() -> None:
    for bad in (dict(alpha=0.0), dict(direction=0), dict(max_loss=-1.0), dict(tau_scale=0.0)):
        with pytest.raises(ValueError):
            Config(**bad)
