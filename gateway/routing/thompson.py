"""Thompson sampling: draw each arm's posterior mean reward, route to the larger draw."""

from __future__ import annotations

import math
import random
from typing import Self

from gateway.routing.strategy import CONTROL, TREATMENT, Strategy, StrategyState

# Prior standard deviation of an arm's mean, in units of the pooled reward sd: weak
# enough that a handful of observations dominate it, at any reward scale.
_PRIOR_SCALE = 100.0


class ThompsonSampling(Strategy):
    """Thompson sampling over two arms, Beta-Bernoulli or Gaussian.

    ``binary=True``: rewards in [0, 1]; each arm has a Beta(1 + Σr, 1 + Σ(1 − r))
    posterior. Fractional rewards (0.7) add fractional pseudo-counts (α += 0.7,
    β += 0.3), never ``int()``-truncated.

    ``binary=False``: Normal posterior of the arm's mean in the known-variance form:
    precision = 1/τ₀² + n/σ², mean = (μ₀/τ₀² + n·x̄/σ²)/precision. σ² is the arm's own
    sample variance once it has ``max(2, min_samples)`` rewards (earlier, a tiny chance
    variance would make the posterior falsely certain) and the pooled variance of both arms
    before that: the variance of every reward of both arms together, so the spread
    between the arms counts (1.0 while nothing has any spread, where both posteriors are
    equal). The weak prior is empirical: μ₀ is the
    mean of all rewards so far and τ₀ = 100 pooled standard deviations, so it is
    negligible after one observation and scale-free (PnL in dollars or errors of 1e-4).

    Posterior parameters are recomputed in ``observe``; ``choose`` only draws two numbers.
    Routing keys are ignored: the allocation moves as the posterior learns, and pinning a
    key would freeze that learning for the key's traffic.

    >>> s = ThompsonSampling(binary=True, rng=random.Random(0))
    >>> s.observe(1, 0.7)
    >>> s.posterior(1)
    (1.7, 1.3)
    """

    name = "thompson_sampling"
    __slots__ = ("_a0", "_a1", "_b0", "_b1", "_binary", "_draw", "_min_samples")

    def __init__(self, *, binary: bool, min_samples: int = 10, rng: random.Random) -> None:
        super().__init__(rng=rng)
        if min_samples < 0:
            raise ValueError(f"min_samples must be >= 0, got {min_samples}")
        self._binary = bool(binary)
        self._min_samples = int(min_samples)
        # (a, b) are Beta (alpha, beta) when binary, else Normal (mean, sd).
        self._draw = rng.betavariate if binary else rng.gauss
        self._observed()

    @property
    def binary(self) -> bool:
        """True for the Beta-Bernoulli model, False for the Gaussian one."""
        return self._binary

    def posterior(self, arm: int) -> tuple[float, float]:
        """The arm's posterior: (alpha, beta) of a Beta, or (mean, sd) of a Normal."""
        return (self._a0, self._b0) if arm == CONTROL else (self._a1, self._b1)

    def choose(self, key_hash: int | None = None) -> int:
        draw = self._draw
        return TREATMENT if draw(self._a1, self._b1) > draw(self._a0, self._b0) else CONTROL

    def _check_reward(self, reward: float) -> None:
        super()._check_reward(reward)
        if self._binary and not 0.0 <= reward <= 1.0:
            raise ValueError(
                f"binary Thompson sampling needs rewards in [0, 1], got {reward!r}; "
                "use binary=False for continuous or negated rewards"
            )

    def _observed(self) -> None:
        control, treatment = self._arms
        if self._binary:
            s0, s1 = control.n * control.mean, treatment.n * treatment.mean
            self._a0, self._b0 = 1.0 + s0, 1.0 + control.n - s0
            self._a1, self._b1 = 1.0 + s1, 1.0 + treatment.n - s1
            return
        n = control.n + treatment.n
        # The variance of every reward so far, both arms together (the spread between
        # the arms counts): one reward per arm at a 1e6 scale has a 1e6-scale spread, not
        # an assumed 1.0 that would send all traffic to one arm. With no spread at all
        # the posteriors are equal and traffic splits evenly.
        both = control.to_moments().merge(treatment.to_moments())
        pooled_var = both.variance if both.variance > 0.0 else 1.0
        mu0 = both.mean if n else 0.0
        prior_precision = 1.0 / (_PRIOR_SCALE * _PRIOR_SCALE * pooled_var)
        own_from = max(2, self._min_samples)
        posts = []
        for arm in (control, treatment):
            var = arm.variance if arm.n >= own_from and arm.variance > 0.0 else pooled_var
            precision = prior_precision + arm.n / var
            mean = (mu0 * prior_precision + arm.n * arm.mean / var) / precision
            posts.append((mean, 1.0 / math.sqrt(precision)))
        (self._a0, self._b0), (self._a1, self._b1) = posts

    def _params(self) -> dict[str, float | int | bool]:
        return {"binary": self._binary, "min_samples": self._min_samples}

    @classmethod
    def _from_params(cls, state: StrategyState, rng: random.Random) -> Self:
        return cls(binary=state.binary, min_samples=state.min_samples, rng=rng)
