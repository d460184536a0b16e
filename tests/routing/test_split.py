"""Random and weighted splits follow their configured share; sticky keys are stable and fair."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from gateway.routing import (
    CONTROL,
    TREATMENT,
    RandomSplit,
    WeightedSplit,
    key_hash,
    make_strategy,
    sticky_arm,
    unit_interval,
)

DRAWS = 20_000


def _split_p_value(arms: list[int], split: float) -> float:
    treatment = sum(arms)
    observed = [len(arms) - treatment, treatment]
    expected = [len(arms) * (1 - split), len(arms) * split]
    return stats.chisquare(observed, expected).pvalue


@pytest.mark.parametrize(("name", "split"), [("random", 0.5), ("weighted", 0.2), ("weighted", 0.9)])
def test_split_strategy_assignments_follow_configured_split(name: str, split: float) -> None:
    """Chi-square goodness of fit over 20000 draws; p > 0.001 (fixed seed)."""
    strategy = make_strategy(name, split=split, rng=random.Random(12))
    arms = [strategy.choose() for _ in range(DRAWS)]
    assert _split_p_value(arms, split) > 0.001


@pytest.mark.parametrize("split", [0.0, 1.0])
def test_weighted_split_at_the_edges_sends_everything_to_one_arm(split: float) -> None:
    strategy = WeightedSplit(split=split, rng=random.Random(1))
    keys = [key_hash(f"k{i}", "e") for i in range(200)]
    arms = {strategy.choose() for _ in range(2000)} | {strategy.choose(h) for h in keys}
    assert arms == {TREATMENT if split == 1.0 else CONTROL}


def test_random_split_observed_rewards_do_not_change_allocation() -> None:
    strategy = RandomSplit(rng=random.Random(4))
    for _ in range(500):
        strategy.observe(TREATMENT, 100.0)
        strategy.observe(CONTROL, -100.0)
    arms = [strategy.choose() for _ in range(DRAWS)]
    assert _split_p_value(arms, 0.5) > 0.001
    assert strategy.moments(TREATMENT).n == 500


def test_key_hash_golden_values_are_stable_across_processes_and_releases() -> None:
    """Pinned values: Python's salted hash() would differ per process; blake2b does not."""
    assert key_hash("client-7", "exp-1") == 0x0149EC079B74B8C6
    assert key_hash("", "") == 0x4E842F2F50CC089E
    assert sticky_arm("client-7", "exp-1", 0.5) == 1


def test_key_hash_experiment_id_is_length_prefixed() -> None:
    assert key_hash("c", "ab") != key_hash("bc", "a")


def test_sticky_arm_same_key_always_same_arm() -> None:
    for i in range(500):
        key = f"account-{i}"
        first = sticky_arm(key, "exp-9", 0.3)
        assert all(sticky_arm(key, "exp-9", 0.3) == first for _ in range(3))
        assert (
            WeightedSplit(split=0.3, rng=random.Random(i)).choose(key_hash(key, "exp-9")) == first
        )


@pytest.mark.parametrize("split", [0.5, 0.3])
def test_sticky_arm_10000_keys_are_balanced_by_split(split: float) -> None:
    arms = [sticky_arm(f"user-{i}", "exp-balance", split) for i in range(10_000)]
    assert _split_p_value(arms, split) > 0.001


def test_unit_interval_of_key_hashes_is_uniform() -> None:
    u = np.array([unit_interval(key_hash(str(i), "exp-u")) for i in range(10_000)])
    assert ((u >= 0.0) & (u < 1.0)).all()
    counts = np.histogram(u, bins=20, range=(0.0, 1.0))[0]
    assert stats.chisquare(counts).pvalue > 0.001


def test_sticky_arm_different_experiment_reshuffles_keys() -> None:
    """Arms in two experiments are independent: about half the keys change arm (split 0.5)."""
    keys = [f"user-{i}" for i in range(10_000)]
    changed = sum(sticky_arm(k, "exp-a", 0.5) != sticky_arm(k, "exp-b", 0.5) for k in keys)
    assert 0.47 < changed / len(keys) < 0.53
