"""The allocation-strategy contract: pick an arm per request, learn from oriented rewards."""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final, Self

from gateway.stats.moments import Moments, RunningMoments

CONTROL: Final = 0
TREATMENT: Final = 1
ARMS: Final = (CONTROL, TREATMENT)


@dataclass(frozen=True, slots=True)
class StrategyState:
    """Everything needed to rebuild a strategy after a restart (the rng is not included).

    ``control``/``treatment`` are the moments of the oriented rewards each arm has observed;
    parameters a strategy does not use keep their defaults.
    """

    name: str
    control: Moments
    treatment: Moments
    split: float = 0.5
    epsilon: float = 0.0
    min_samples: int = 0
    binary: bool = False


def check_fraction(label: str, value: float) -> float:
    """``value`` if it lies in [0, 1], else ValueError naming ``label``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{label} must be in [0, 1], got {value}")
    return float(value)


class Strategy(ABC):
    """Chooses control (0) or treatment (1) for each request of one experiment.

    ``choose`` runs on the Predict hot path: O(1), no allocation beyond a float or two,
    no lock, no await. The experiment's strategy lives in one event loop, so no locking is
    needed; do not share one instance between threads.

    ``observe`` takes a reward that is already oriented so that higher is better: the
    caller negates error metrics (``Metric.to_reward``). Every strategy records per-arm
    moments of what it observed, so ``state()`` carries the learning across restarts.

    The rng is injected (``random.Random``: ~30 ns a draw, far cheaper per call than a
    numpy Generator). Same state + same rng seed ⇒ the same sequence of choices.
    """

    name: ClassVar[str]
    __slots__ = ("_arms", "_random", "_rng")

    def __init__(self, *, rng: random.Random) -> None:
        self._rng = rng
        self._random = rng.random
        self._arms = (RunningMoments(), RunningMoments())

    @abstractmethod
    def choose(self, key_hash: int | None = None) -> int:
        """Pick the arm for one request.

        Args:
            key_hash: ``sticky.key_hash(routing_key, experiment_id)`` when the request
                carries a routing key, else None. Split strategies then assign the key to
                a fixed arm; bandits ignore it (see their docstrings).

        Returns:
            ``CONTROL`` (0) or ``TREATMENT`` (1).
        """

    def observe(self, arm: int, reward: float) -> None:
        """Record one outcome's reward for the arm that served it.

        Args:
            arm: ``CONTROL`` or ``TREATMENT``.
            reward: the metric oriented so that higher is better; finite.

        Raises:
            ValueError: unknown arm, or a reward the strategy cannot use.
        """
        if arm != CONTROL and arm != TREATMENT:
            raise ValueError(
                f"arm must be {CONTROL} (control) or {TREATMENT} (treatment), got {arm!r}"
            )
        self._check_reward(reward)
        self._arms[arm].update(reward)
        self._observed()

    def moments(self, arm: int) -> Moments:
        """The moments of the rewards observed for ``arm``."""
        return self._arms[arm].to_moments()

    def state(self) -> StrategyState:
        """A frozen record of the strategy's parameters and learning."""
        return StrategyState(
            self.name,
            self._arms[CONTROL].to_moments(),
            self._arms[TREATMENT].to_moments(),
            **self._params(),
        )

    @classmethod
    def from_state(cls, state: StrategyState, *, rng: random.Random) -> Self:
        """Rebuild a strategy of this class from ``state()``.

        Raises:
            ValueError: the state belongs to another strategy.
        """
        if state.name != cls.name:
            raise ValueError(f"state of strategy {state.name!r} cannot restore {cls.name!r}")
        strategy = cls._from_params(state, rng)
        strategy._arms = (
            RunningMoments.from_moments(state.control),
            RunningMoments.from_moments(state.treatment),
        )
        strategy._observed()
        return strategy

    def _check_reward(self, reward: float) -> None:
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward!r}")

    def _observed(self) -> None:
        """Hook: refresh whatever ``choose`` caches after the arms' moments changed."""
        return None

    @abstractmethod
    def _params(self) -> dict[str, float | int | bool]:
        """The constructor parameters that go into ``StrategyState``."""

    @classmethod
    @abstractmethod
    def _from_params(cls, state: StrategyState, rng: random.Random) -> Self:
        """A fresh instance built from the parameters in ``state``."""
