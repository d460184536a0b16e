"""Epsilon-greedy bandit: explore uniformly with probability ε, else the best mean reward."""

from __future__ import annotations

import random
from typing import Self

from gateway.routing.strategy import CONTROL, TREATMENT, Strategy, StrategyState, check_fraction

_TIE = -1


class EpsilonGreedy(Strategy):
    """Epsilon-greedy over two arms.

    Until each arm has ``min_samples`` observed rewards (warm-up) every request is split
    uniformly at random: outcomes arrive late, so "alternate" or "least-observed first"
    would send whole bursts to one arm. Afterwards, with probability ``epsilon`` the arm is
    drawn uniformly (exploration), otherwise it is the arm with the higher mean reward
    (ties uniformly). Rewards are oriented higher-is-better by the caller.

    Routing keys are ignored: the allocation moves as the bandit learns, and pinning a key
    to an arm would freeze that learning for the key's traffic.

    >>> s = EpsilonGreedy(epsilon=0.1, min_samples=2, rng=random.Random(0))
    >>> for arm, reward in [(0, 1.0), (0, 1.2), (1, 2.0), (1, 2.4)]:
    ...     s.observe(arm, reward)
    >>> sum(s.choose() for _ in range(1000))
    956
    """

    name = "epsilon_greedy"
    __slots__ = ("_best", "_epsilon", "_min_samples", "_warm")

    def __init__(self, *, epsilon: float, min_samples: int, rng: random.Random) -> None:
        super().__init__(rng=rng)
        self._epsilon = check_fraction("epsilon", epsilon)
        if min_samples < 0:
            raise ValueError(f"min_samples must be >= 0, got {min_samples}")
        self._min_samples = int(min_samples)
        self._warm = min_samples == 0
        self._best = _TIE

    def choose(self, key_hash: int | None = None) -> int:
        r = self._random
        if not self._warm or r() < self._epsilon or self._best == _TIE:
            return TREATMENT if r() < 0.5 else CONTROL
        return self._best

    def _observed(self) -> None:
        control, treatment = self._arms
        self._warm = min(control.n, treatment.n) >= self._min_samples
        if treatment.mean > control.mean:
            self._best = TREATMENT
        elif control.mean > treatment.mean:
            self._best = CONTROL
        else:
            self._best = _TIE

    def _params(self) -> dict[str, float | int | bool]:
        return {"epsilon": self._epsilon, "min_samples": self._min_samples}

    @classmethod
    def _from_params(cls, state: StrategyState, rng: random.Random) -> Self:
        return cls(epsilon=state.epsilon, min_samples=state.min_samples, rng=rng)
