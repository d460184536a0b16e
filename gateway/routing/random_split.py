"""Uniform random split: half the requests to each arm."""

from __future__ import annotations

import random
from typing import Self

from gateway.routing.strategy import StrategyState
from gateway.routing.weighted import WeightedSplit


class RandomSplit(WeightedSplit):
    """A ``WeightedSplit`` fixed at 50/50; sticky by key hash like it.

    >>> s = RandomSplit(rng=random.Random(3))
    >>> [s.choose() for _ in range(8)]
    [1, 0, 1, 0, 0, 1, 1, 0]
    """

    name = "random"
    __slots__ = ()

    def __init__(self, *, rng: random.Random) -> None:
        super().__init__(split=0.5, rng=rng)

    @classmethod
    def _from_params(cls, state: StrategyState, rng: random.Random) -> Self:
        return cls(rng=rng)
