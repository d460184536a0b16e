"""Bandits learn which arm is better, in both metric directions, with late-arriving outcomes."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from gateway.routing import CONTROL, TREATMENT, EpsilonGreedy, ThompsonSampling, make_strategy
from gateway.routing.strategy import Strategy
from gateway.stats import ACCURACY, REWARD, SQUARED_ERROR, Metric

ROUNDS = 3000
FEEDBACK_BATCH = 50  # outcomes arrive late: rewards are observed 50 requests at a time


def _simulate(
    strategy: Strategy, outcome: Callable[[int, random.Random], float], metric: Metric, seed: int
) -> list[int]:
    """Route ROUNDS requests; each outcome's metric value is oriented by ``metric`` (the
    caller's job) before the strategy observes it."""
    world = random.Random(seed)
    chosen: list[int] = []
    pending: list[tuple[int, float]] = []
    for _ in range(ROUNDS):
        arm = strategy.choose()
        chosen.append(arm)
        pending.append((arm, metric.to_reward(outcome(arm, world))))
        if len(pending) == FEEDBACK_BATCH:
            for a, reward in pending:
                strategy.observe(a, reward)
            pending.clear()
    return chosen


def _reward_outcome(better: int) -> Callable[[int, random.Random], float]:
    """PnL-like reward, higher is better: mean 1.5 on the better arm, 1.0 on the other."""
    return lambda arm, w: w.gauss(1.5 if arm == better else 1.0, 1.0)


def _squared_error_outcome(better: int) -> Callable[[int, random.Random], float]:
    """Squared error, lower is better: the better arm's model errs with sd 1, the other 1.5."""

    def outcome(arm: int, w: random.Random) -> float:
        prediction, truth = w.gauss(0.0, 1.0 if arm == better else 1.5), 0.0
        return SQUARED_ERROR.per_outcome(prediction, truth)

    return outcome


def _accuracy_outcome(better: int) -> Callable[[int, random.Random], float]:
    """Classifier accuracy, higher is better: 0.75 on the better arm, 0.6 on the other."""

    def outcome(arm: int, w: random.Random) -> float:
        correct = w.random() < (0.75 if arm == better else 0.6)
        return ACCURACY.per_outcome(1.0, 1.0 if correct else 0.0)

    return outcome


CASES = [
    ("epsilon_greedy", False, REWARD, _reward_outcome),
    ("epsilon_greedy", False, SQUARED_ERROR, _squared_error_outcome),
    ("epsilon_greedy", False, ACCURACY, _accuracy_outcome),
    ("thompson_sampling", False, REWARD, _reward_outcome),
    ("thompson_sampling", False, SQUARED_ERROR, _squared_error_outcome),
    ("thompson_sampling", True, ACCURACY, _accuracy_outcome),
]


@pytest.mark.parametrize("better", [CONTROL, TREATMENT], ids=["control-better", "treatment-better"])
@pytest.mark.parametrize(
    ("name", "binary", "metric", "world"),
    CASES,
    ids=[f"{c[0]}-{'bernoulli' if c[1] else 'gauss'}-{c[2].name}" for c in CASES],
)
def test_bandit_simulation_sends_most_traffic_to_better_arm(
    name: str, binary: bool, metric: Metric, world: Callable, better: int
) -> None:
    """Fixed seeds; over the last 1000 of 3000 requests ≥ 80% go to the better arm
    (epsilon 0.1 alone caps greedy at 95%)."""
    strategy = make_strategy(name, epsilon=0.1, min_samples=20, binary=binary, rng=random.Random(5))
    chosen = _simulate(strategy, world(better), metric, seed=better + 17)
    late = chosen[-1000:]
    assert late.count(better) / len(late) >= 0.8


def test_thompson_binary_fractional_rewards_move_pseudo_counts_fractionally() -> None:
    strategy = ThompsonSampling(binary=True, rng=random.Random(0))
    for reward in (0.7, 0.7, 0.7):
        strategy.observe(TREATMENT, reward)
    strategy.observe(CONTROL, 0.25)
    alpha, beta = strategy.posterior(TREATMENT)
    assert alpha == pytest.approx(1.0 + 2.1) and beta == pytest.approx(1.0 + 0.9)
    assert strategy.posterior(CONTROL) == pytest.approx((1.25, 1.75))


def test_thompson_binary_fractional_rewards_prefer_higher_mean_fraction() -> None:
    """Rewards 0.6 vs 0.4 on every outcome: int() truncation would see two all-zero arms."""
    strategy = ThompsonSampling(binary=True, rng=random.Random(8))
    chosen = _simulate(strategy, lambda arm, w: 0.6 if arm == TREATMENT else 0.4, REWARD, 3)
    assert chosen[-1000:].count(TREATMENT) >= 900


@pytest.mark.parametrize("bad", [1.5, -0.2, float("nan")])
def test_thompson_binary_reward_outside_unit_interval_is_rejected(bad: float) -> None:
    strategy = ThompsonSampling(binary=True, rng=random.Random(0))
    with pytest.raises(ValueError):
        strategy.observe(CONTROL, bad)
    assert strategy.posterior(CONTROL) == (1.0, 1.0)


def test_thompson_gaussian_posterior_follows_known_variance_form() -> None:
    strategy = ThompsonSampling(binary=False, min_samples=2, rng=random.Random(0))
    for reward in (1.0, 2.0, 3.0, 4.0):
        strategy.observe(TREATMENT, reward)
    for reward in (0.0, 2.0):
        strategy.observe(CONTROL, reward)
    # treatment: n=4, mean 2.5, var 5/3; control: n=2, mean 1, var 2; all six rewards
    # together: mean 2, variance 10/5 = 2 (the spread between the arms counts)
    mu0, tau0_sq = 2.0, 100.0**2 * 2.0
    precision = 1 / tau0_sq + 4 / (5 / 3)
    mean, sd = strategy.posterior(TREATMENT)
    assert mean == pytest.approx((mu0 / tau0_sq + 4 * 2.5 / (5 / 3)) / precision)
    assert sd == pytest.approx(precision**-0.5)


def test_epsilon_greedy_warm_up_splits_uniformly_until_min_samples() -> None:
    strategy = EpsilonGreedy(epsilon=0.0, min_samples=5, rng=random.Random(2))
    for _ in range(5):
        strategy.observe(TREATMENT, 10.0)
    for _ in range(4):
        strategy.observe(CONTROL, 0.0)
    warm_up = [strategy.choose() for _ in range(2000)]
    assert 900 < warm_up.count(TREATMENT) < 1100
    strategy.observe(CONTROL, 0.0)
    assert {strategy.choose() for _ in range(200)} == {TREATMENT}


@pytest.mark.parametrize("binary", [False, True])
def test_bandit_routing_key_is_ignored(binary: bool) -> None:
    """The same key hash does not pin an arm: bandit allocation must stay free to learn."""
    strategy = ThompsonSampling(binary=binary, rng=random.Random(6))
    assert {strategy.choose(0x1234) for _ in range(100)} == {CONTROL, TREATMENT}


@pytest.mark.parametrize("arm", [2, -1])
def test_strategy_observe_unknown_arm_is_rejected(arm: int) -> None:
    with pytest.raises(ValueError, match="arm must be"):
        make_strategy("epsilon_greedy").observe(arm, 1.0)


def test_thompson_gaussian_one_reward_per_arm_at_a_large_scale_splits_traffic() -> None:
    """With one reward per arm, the spread between the arms sets the posterior's scale:
    no arm gets all the traffic before there is evidence."""
    strategy = ThompsonSampling(binary=False, min_samples=2, rng=random.Random(4))
    strategy.observe(CONTROL, 1_000_000.0)
    strategy.observe(TREATMENT, 1_100_000.0)
    share = [strategy.choose() for _ in range(4000)].count(TREATMENT) / 4000
    assert 0.55 < share < 0.95
