"""Weighted split: each request goes to treatment with probability ``split``."""

from __future__ import annotations

import random
from typing import Self

from gateway.routing.sticky import unit_interval
from gateway.routing.strategy import CONTROL, TREATMENT, Strategy, StrategyState, check_fraction


class WeightedSplit(Strategy):
    """Fixed allocation: treatment with probability ``split``, control otherwise.

    With a key hash the draw is replaced by the key's position in [0, 1), so a routing key
    always lands on the same arm (and a share ``split`` of keys lands on treatment).
    Observed rewards are recorded but never change the allocation.

    >>> s = WeightedSplit(split=0.25, rng=random.Random(1))
    >>> sum(s.choose() for _ in range(10_000))
    2564
    """

    name = "weighted"
    __slots__ = ("_split",)

    def __init__(self, *, split: float, rng: random.Random) -> None:
        super().__init__(rng=rng)
        self._split = check_fraction("split", split)

    @property
    def split(self) -> float:
        """The treatment share."""
        return self._split

    def choose(self, key_hash: int | None = None) -> int:
        u = self._random() if key_hash is None else unit_interval(key_hash)
        return TREATMENT if u < self._split else CONTROL

    def _params(self) -> dict[str, float | int | bool]:
        return {"split": self._split}

    @classmethod
    def _from_params(cls, state: StrategyState, rng: random.Random) -> Self:
        return cls(split=state.split, rng=rng)
