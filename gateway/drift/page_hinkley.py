"""Page-Hinkley test for an upward change in the mean of a stream (river's defaults).

With x̄ the running mean of every value since the last reset (the new value included),
S = max(0, α·S + x − x̄ − δ) after each value; a drift is flagged when at least
``min_instances`` values were seen and S ≥ ``threshold``. The detector resets itself on
the value after a drift, so it watches the new regime from scratch. The update order
(mean first, then S) is river's ``drift/page_hinkley.py``, which reproduces its golden
index; river checks the count before counting the value (one value earlier), we check
n ≥ ``min_instances`` as the definition states: the golden index is the same.

Only an increase is a drift. On a stationary 0/1 stream S still wanders up to the
threshold eventually: in 2% of streams within 2,000 values, half within ~28,000
(tests/drift/test_page_hinkley.py).

>>> import random
>>> rng = random.Random(12345)
>>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
>>> ph = PageHinkley()
>>> [i for i, x in enumerate(stream) if ph.update(x)]
[1006]
"""

from __future__ import annotations

import math


class PageHinkley:
    """Page-Hinkley change detector on a stream of numbers (e.g. outcome errors).

    Args:
        min_instances: values needed before a drift can be flagged.
        delta: the magnitude of change tolerated (subtracted from every deviation).
        threshold: λ, the level of S that flags a drift.
        alpha: forgetting factor applied to S before each value.
    """

    __slots__ = (
        "_alpha",
        "_delta",
        "_drift",
        "_min_instances",
        "_n",
        "_sum",
        "_threshold",
        "_x_mean",
    )

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
    ) -> None:
        if min_instances < 1 or delta < 0 or threshold <= 0 or not 0 < alpha <= 1:
            raise ValueError(
                f"expected min_instances >= 1, delta >= 0, threshold > 0, 0 < alpha <= 1; got "
                f"{min_instances}, {delta}, {threshold}, {alpha}"
            )
        self._min_instances = int(min_instances)
        self._delta = float(delta)
        self._threshold = float(threshold)
        self._alpha = float(alpha)
        self._drift = False
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._x_mean = 0.0
        self._sum = 0.0
        self._drift = False

    @property
    def n(self) -> int:
        """Values seen since the last reset."""
        return self._n

    @property
    def mean(self) -> float:
        """x̄, the running mean since the last reset."""
        return self._x_mean

    @property
    def statistic(self) -> float:
        """S, the cumulative deviation above the mean."""
        return self._sum

    @property
    def drift_detected(self) -> bool:
        """True when the last value flagged a drift."""
        return self._drift

    def update(self, x: float) -> bool:
        """Add one value; return ``drift_detected``.

        Raises:
            ValueError: ``x`` is NaN or infinite.
        """
        if not math.isfinite(x):
            raise ValueError(f"Page-Hinkley input must be finite, got {x!r}")
        if self._drift:
            self._reset()
        self._n += 1
        self._x_mean += (x - self._x_mean) / self._n
        self._sum = max(0.0, self._alpha * self._sum + x - self._x_mean - self._delta)
        self._drift = self._n >= self._min_instances and self._sum >= self._threshold
        return self._drift
