"""Running count, mean and variance of a metric (Welford), mergeable across workers (Chan)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of one arm's metric: count, mean and sum of squared deviations.

    This is the record that is persisted and passed between modules; ``RunningMoments`` is
    its mutable accumulator.

    >>> m = Moments.of([1.0, 2.0, 3.0, 4.0])
    >>> m.n, m.mean, m.m2, round(m.variance, 6)
    (4, 2.5, 5.0, 1.666667)
    >>> Moments.of([1.0, 2.0]).merge(Moments.of([3.0, 4.0])) == m
    True
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def __post_init__(self) -> None:
        if self.n < 0 or self.m2 < 0 or not (math.isfinite(self.mean) and math.isfinite(self.m2)):
            raise ValueError(
                f"invalid moments n={self.n} mean={self.mean} m2={self.m2}: "
                "expected n >= 0, finite mean and finite m2 >= 0"
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
        """The moments of a finite collection of finite values."""
        acc = RunningMoments()
        for x in values:
            acc.update(x)
        return acc.to_moments()

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples together (Chan et al.'s parallel formula).

        Args:
            other: moments of a disjoint sample of the same metric.

        Returns:
            The moments of the union of the two samples.
        """
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return Moments(n, mean, m2)


class RunningMoments:
    """Welford's online count/mean/variance; O(1) per update, numerically stable.

    >>> r = RunningMoments()
    >>> for x in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):
    ...     r.update(x)
    >>> r.n, r.mean, r.variance
    (8, 5.0, 4.571428571428571)
    >>> RunningMoments.from_moments(r.to_moments()).to_moments() == r.to_moments()
    True
    """

    __slots__ = ("_m2", "_mean", "_n")

    def __init__(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0

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
        self._n += 1
        delta = x - self._mean
        self._mean += delta / self._n
        self._m2 += delta * (x - self._mean)

    def merge(self, other: RunningMoments | Moments) -> None:
        """Fold another disjoint sample's moments into this one, in place (Chan's formula)."""
        other_m = other.to_moments() if isinstance(other, RunningMoments) else other
        merged = self.to_moments().merge(other_m)
        self._n, self._mean, self._m2 = merged.n, merged.mean, merged.m2

    def to_moments(self) -> Moments:
        """A frozen copy of the current state, for persistence or a statistical test."""
        return Moments(self._n, self._mean, self._m2)

    @classmethod
    def from_moments(cls, moments: Moments) -> RunningMoments:
        """An accumulator that continues from persisted moments."""
        acc = cls()
        acc._n, acc._mean, acc._m2 = moments.n, moments.mean, moments.m2
        return acc
