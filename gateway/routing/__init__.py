"""Pure A/B allocation strategies (split, epsilon-greedy, Thompson) and sticky key hashing."""

from __future__ import annotations

from gateway.routing.epsilon_greedy import EpsilonGreedy
from gateway.routing.factory import STRATEGY_NAMES, make_strategy, strategy_from_state
from gateway.routing.random_split import RandomSplit
from gateway.routing.sticky import key_hash, sticky_arm, unit_interval
from gateway.routing.strategy import ARMS, CONTROL, TREATMENT, Strategy, StrategyState
from gateway.routing.thompson import ThompsonSampling
from gateway.routing.weighted import WeightedSplit

__all__ = [
    "ARMS",
    "CONTROL",
    "STRATEGY_NAMES",
    "TREATMENT",
    "EpsilonGreedy",
    "RandomSplit",
    "Strategy",
    "StrategyState",
    "ThompsonSampling",
    "WeightedSplit",
    "key_hash",
    "make_strategy",
    "sticky_arm",
    "strategy_from_state",
    "unit_interval",
]
