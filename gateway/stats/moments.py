"""Running count, mean and central moments of a metric (Welford/Pébay), mergeable across
batches and workers (Chan/Pébay), exact for large offsets (prices, PnL in account units).

Moments are kept as central sums M_k = Σ(x − mean)^k, never as raw sums: Σx² − (Σx)·x̄ is
wrong by 30% at an offset of 1e7, while these stay exact to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of one arm's metric: count, mean and central sums M2..M4.

    ``m3`` and ``m4`` (third and fourth central sums) tell the sequential tests how far
    from normal an arm's mean still is (skewness and kurtosis); 0 when not known.

    >>> m = Moments.of([1.0, 2.0, 3.0, 4.0])
    >>> m.n, m.mean, m.m2, round(m.variance, 6)
    (4, 2.5, 5.0, 1.666667)
    >>> Moments.of([1.0, 2.0]).merge(Moments.of([3.0, 4.0])) == m
    True
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.mean, self.m2, self.m3, self.m4))
        if self.n < 0 or self.m2 < 0 or self.m4 < 0 or not finite:
            raise ValueError(
                f"invalid moments n={self.n} mean={self.mean} m2={self.m2} m3={self.m3} "
                f"m4={self.m4}: expected n >= 0, finite sums and m2, m4 >= 0"
            )

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); 0.0 when n < 2, where it is undefined (check ``n``)."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1); 0.0 when n < 2."""
        return math.sqrt(self.variance)

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        """The moments of a finite collection of finite values (two passes, exact).

        >>> Moments.of([1e9 + 1, 1e9 + 2, 1e9 + 3]).variance
        1.0
        """
        x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
        if x.size == 0:
            return cls()
        if not np.isfinite(x).all():
            raise ValueError("metric values must be finite")
        mean = float(x.mean())
        d = x - mean
        # A second pass corrects the mean's rounding (mean of the deviations).
        correction = float(d.mean())
        mean += correction
        d = d - correction
        d2 = d * d
        return cls(x.size, mean, float(d2.sum()), float((d2 * d).sum()), float((d2 * d2).sum()))

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples together (Chan et al.; Pébay for M3 and M4).

        Args:
            other: moments of a disjoint sample of the same metric.

        Returns:
            The moments of the union of the two samples.
        """
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        na, nb = self.n, other.n
        n = na + nb
        d = other.mean - self.mean
        mean = self.mean + d * nb / n
        m2 = self.m2 + other.m2 + d * d * na * nb / n
        m3 = (
            self.m3
            + other.m3
            + d**3 * na * nb * (na - nb) / (n * n)
            + 3.0 * d * (na * other.m2 - nb * self.m2) / n
        )
        m4 = (
            self.m4
            + other.m4
            + d**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6.0 * d * d * (na * na * other.m2 + nb * nb * self.m2) / (n * n)
            + 4.0 * d * (na * other.m3 - nb * self.m3) / n
        )
        return Moments(n, mean, m2, m3, max(m4, 0.0))


class RunningMoments:
    """Welford's online count/mean/variance, with Pébay's M3 and M4; O(1) per update.

    >>> r = RunningMoments()
    >>> for x in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):
    ...     r.update(x)
    >>> r.n, r.mean, r.variance
    (8, 5.0, 4.571428571428571)
    >>> RunningMoments.from_moments(r.to_moments()).to_moments() == r.to_moments()
    True
    """

    __slots__ = ("_m2", "_m3", "_m4", "_mean", "_n")

    def __init__(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._m3 = 0.0
        self._m4 = 0.0

    @property
    def n(self) -> int:
        """Number of values seen."""
        return self._n

    @property
    def mean(self) -> float:
        """Mean of the values seen (0.0 before the first)."""
        return self._mean

    @property
    def m2(self) -> float:
        """Sum of squared deviations from the mean."""
        return self._m2

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); 0.0 when n < 2, where it is undefined."""
        return self._m2 / (self._n - 1) if self._n > 1 else 0.0

    def update(self, x: float) -> None:
        """Add one value.

        Raises:
            ValueError: ``x`` is NaN or infinite (it would poison every later statistic).
        """
        if not math.isfinite(x):
            raise ValueError(f"metric value must be finite, got {x!r}")
        n1 = self._n
        self._n = n = n1 + 1
        delta = x - self._mean
        delta_n = delta / n
        term = delta * delta_n * n1
        self._mean += delta_n
        self._m4 += (
            term * delta_n * delta_n * (n * n - 3 * n + 3)
            + 6.0 * delta_n * delta_n * self._m2
            - 4.0 * delta_n * self._m3
        )
        self._m3 += term * delta_n * (n - 2) - 3.0 * delta_n * self._m2
        self._m2 += term

    def merge(self, other: RunningMoments | Moments) -> None:
        """Fold another disjoint sample's moments into this one, in place."""
        other_m = other.to_moments() if isinstance(other, RunningMoments) else other
        merged = self.to_moments().merge(other_m)
        self._n, self._mean, self._m2 = merged.n, merged.mean, merged.m2
        self._m3, self._m4 = merged.m3, merged.m4

    def to_moments(self) -> Moments:
        """A frozen copy of the current state, for persistence or a statistical test."""
        return Moments(self._n, self._mean, self._m2, self._m3, max(self._m4, 0.0))

    @classmethod
    def from_moments(cls, moments: Moments) -> RunningMoments:
        """An accumulator that continues from persisted moments."""
        acc = cls()
        acc._n, acc._mean, acc._m2 = moments.n, moments.mean, moments.m2
        acc._m3, acc._m4 = moments.m3, moments.m4
        return acc
