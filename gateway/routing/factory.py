"""Build an experiment's allocation strategy from its configured name, or from saved state."""

from __future__ import annotations

import random

from gateway.routing.epsilon_greedy import EpsilonGreedy
from gateway.routing.random_split import RandomSplit
from gateway.routing.strategy import Strategy, StrategyState
from gateway.routing.thompson import ThompsonSampling
from gateway.routing.weighted import WeightedSplit
from registry.rules.experiments import STRATEGIES

_CLASSES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RandomSplit, WeightedSplit, EpsilonGreedy, ThompsonSampling)
}
STRATEGY_NAMES: tuple[str, ...] = STRATEGIES  # the registry's names are the one definition
if set(_CLASSES) != set(STRATEGIES):
    raise ImportError(f"strategies {sorted(_CLASSES)} differ from the registry's {STRATEGIES}")


def _check_name(name: str) -> type[Strategy]:
    try:
        return _CLASSES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; expected one of {', '.join(STRATEGY_NAMES)}"
        ) from None


def make_strategy(
    name: str,
    *,
    split: float = 0.5,
    epsilon: float = 0.1,
    min_samples: int = 20,
    binary: bool = False,
    rng: random.Random | None = None,
) -> Strategy:
    """A new strategy for an experiment.

    Args:
        name: "random", "weighted", "epsilon_greedy" or "thompson_sampling".
        split: treatment share for "weighted" ("random" is always 0.5; bandits ignore it).
        epsilon: exploration probability for "epsilon_greedy".
        min_samples: warm-up rewards per arm for "epsilon_greedy"; for
            "thompson_sampling" the rewards an arm needs before its own variance is used.
        binary: "thompson_sampling" with Beta-Bernoulli (rewards in [0, 1]) instead of
            Gaussian posteriors.
        rng: the random source; a fresh OS-seeded ``random.Random`` when None.

    Returns:
        The strategy.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or a parameter out of
            range.

    >>> make_strategy("weighted", split=0.2).split
    0.2
    >>> make_strategy("ucb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown strategy 'ucb'; expected one of random, weighted, epsilon_greedy, ...
    """
    cls = _check_name(name)
    rng = random.Random() if rng is None else rng
    if cls is RandomSplit:
        return RandomSplit(rng=rng)
    if cls is WeightedSplit:
        return WeightedSplit(split=split, rng=rng)
    if cls is EpsilonGreedy:
        return EpsilonGreedy(epsilon=epsilon, min_samples=min_samples, rng=rng)
    return ThompsonSampling(binary=binary, min_samples=min_samples, rng=rng)


def strategy_from_state(state: StrategyState, *, rng: random.Random | None = None) -> Strategy:
    """Rebuild whichever strategy ``state`` was saved from (``Strategy.state()``).

    Raises:
        ValueError: the state names an unknown strategy.
    """
    cls = _check_name(state.name)
    return cls.from_state(state, rng=random.Random() if rng is None else rng)
