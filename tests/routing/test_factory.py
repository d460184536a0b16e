"""Strategies are built by name, validated, and survive a persistence round trip."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from gateway.routing import (
    STRATEGY_NAMES,
    EpsilonGreedy,
    RandomSplit,
    ThompsonSampling,
    WeightedSplit,
    make_strategy,
    strategy_from_state,
)
from gateway.routing.strategy import StrategyState
from gateway.stats import Moments


def test_make_strategy_each_name_builds_its_class() -> None:
    built = {name: type(make_strategy(name, rng=random.Random(0))) for name in STRATEGY_NAMES}
    assert built == {
        "random": RandomSplit,
        "weighted": WeightedSplit,
        "epsilon_greedy": EpsilonGreedy,
        "thompson_sampling": ThompsonSampling,
    }


def test_make_strategy_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        make_strategy("ucb1")
    assert "'ucb1'" in str(err.value)
    assert all(name in str(err.value) for name in STRATEGY_NAMES)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("weighted", {"split": 1.2}, "split"),
        ("weighted", {"split": -0.1}, "split"),
        ("epsilon_greedy", {"epsilon": 2.0}, "epsilon"),
        ("epsilon_greedy", {"min_samples": -1}, "min_samples"),
        ("thompson_sampling", {"min_samples": -5}, "min_samples"),
    ],
)
def test_make_strategy_parameter_out_of_range_is_rejected(
    name: str, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_strategy(name, **kwargs)


CONFIGS = [
    ("random", {}),
    ("weighted", {"split": 0.3}),
    ("epsilon_greedy", {"epsilon": 0.2, "min_samples": 5}),
    ("thompson_sampling", {"binary": False, "min_samples": 5}),
    ("thompson_sampling", {"binary": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_strategy_state_round_trip_continues_identically(name: str, kwargs: dict) -> None:
    """Learn for 400 requests, persist, restore; with the same rng seed the original and
    the restored strategy then make exactly the same 600 choices and end in the same state."""
    binary = kwargs.get("binary", False)
    rng = random.Random(1)
    original = make_strategy(name, rng=rng, **kwargs)
    world = random.Random(2)

    def reward(arm: int) -> float:
        p = 0.7 if arm else 0.4
        return float(world.random() < p) if binary else world.gauss(p, 1.0)

    for _ in range(400):
        arm = original.choose()
        original.observe(arm, reward(arm))
    state = original.state()
    restored = strategy_from_state(state, rng=random.Random(99))
    assert restored.state() == state
    rng.seed(99)
    for i in range(600):
        arm = original.choose(None if i % 3 else i * 7919)
        assert restored.choose(None if i % 3 else i * 7919) == arm
        r = reward(arm)
        original.observe(arm, r)
        restored.observe(arm, r)
    assert restored.state() == original.state()


def test_strategy_from_state_of_other_strategy_is_rejected() -> None:
    state = make_strategy("weighted", split=0.3).state()
    with pytest.raises(ValueError, match="cannot restore"):
        EpsilonGreedy.from_state(state, rng=random.Random(0))
    with pytest.raises(ValueError, match="unknown strategy"):
        strategy_from_state(replace(state, name="ucb1"))


def test_strategy_state_records_parameters_and_learning() -> None:
    strategy = make_strategy("epsilon_greedy", epsilon=0.05, min_samples=3)
    strategy.observe(1, 2.0)
    strategy.observe(1, 4.0)
    assert strategy.state() == StrategyState(
        name="epsilon_greedy",
        control=Moments(),
        treatment=Moments.of([2.0, 4.0]),
        epsilon=0.05,
        min_samples=3,
    )
