"""Experiment metrics: per-outcome values and which direction is better."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from registry.rules.experiments import LOWER_IS_BETTER
from registry.rules.experiments import METRICS as METRIC_NAMES


@dataclass(frozen=True, slots=True)
class Metric:
    """A per-outcome metric of an experiment.

    Attributes:
        name: the metric's configuration name.
        direction: +1 when higher is better, −1 when lower is better.
        binary: True when every per-outcome value is 0.0 or 1.0.
        per_outcome: ``(prediction, outcome) -> value`` for one answered prediction.
            For classifiers ``prediction`` is the predicted label; for regressors the
            predicted value; ``reward`` ignores it and uses the caller's outcome (e.g. PnL).

    >>> SQUARED_ERROR.per_outcome(2.5, 1.0), ACCURACY.per_outcome(1.0, 1.0)
    (2.25, 1.0)
    >>> SQUARED_ERROR.to_reward(2.25)
    -2.25
    """

    name: str
    direction: int
    binary: bool
    per_outcome: Callable[[float, float], float] = field(repr=False, compare=False)

    def to_reward(self, value: float) -> float:
        """The value oriented so that higher is better, as bandit strategies expect."""
        return value if self.direction > 0 else -value

    def bound(self, limit: float) -> float:
        """The largest metric value when predictions and outcomes are within ±``limit``.

        >>> SQUARED_ERROR.bound(10.0), ABSOLUTE_ERROR.bound(10.0), ACCURACY.bound(10.0)
        (400.0, 20.0, 1.0)
        """
        if self is ACCURACY or self.binary:
            return 1.0
        if self.name == "squared_error":
            return 4.0 * limit * limit
        if self.name == "absolute_error":
            return 2.0 * limit
        return limit

    def score(self, prediction: float, outcome: float, limit: float) -> float:
        """The per-outcome value, clipped to ``±bound(limit)``.

        The outcome is within ±``limit`` (the caller checked), but a model may predict
        anything float32 holds: clipping keeps a wild prediction's error "as bad as it
        gets" while every sum the statistics keep stays far from overflow.

        >>> SQUARED_ERROR.score(3e38, 1.0, 1e6), REWARD.score(0.0, -5.0, 1e6)
        (4000000000000.0, -5.0)
        """
        bound = self.bound(limit)
        value = float(self.per_outcome(prediction, outcome))
        if value != value:  # NaN cannot arise from finite inputs; refuse to store one
            raise ValueError(f"{self.name} of ({prediction}, {outcome}) is not a number")
        return min(max(value, -bound), bound)


def _squared_error(prediction: float, outcome: float) -> float:
    d = prediction - outcome
    return d * d  # a product overflows to inf (then clipped); ** would raise OverflowError


def _absolute_error(prediction: float, outcome: float) -> float:
    return abs(prediction - outcome)


def _accuracy(prediction: float, outcome: float) -> float:
    return 1.0 if prediction == outcome else 0.0


def _reward(prediction: float, outcome: float) -> float:
    return float(outcome)


def _metric(name: str, per_outcome: Callable[[float, float], float], binary: bool) -> Metric:
    """The metric called ``name``: its direction comes from the registry's one list."""
    return Metric(name, -1 if name in LOWER_IS_BETTER else +1, binary, per_outcome)


SQUARED_ERROR = _metric("squared_error", _squared_error, False)
ABSOLUTE_ERROR = _metric("absolute_error", _absolute_error, False)
ACCURACY = _metric("accuracy", _accuracy, True)
REWARD = _metric("reward", _reward, False)

METRICS: Mapping[str, Metric] = MappingProxyType(
    {m.name: m for m in (SQUARED_ERROR, ABSOLUTE_ERROR, ACCURACY, REWARD)}
)
if tuple(METRICS) != METRIC_NAMES:  # the registry's names are the one definition
    raise ImportError(f"metrics {tuple(METRICS)} differ from the registry's {METRIC_NAMES}")


def metric_named(name: str) -> Metric:
    """The metric called ``name``.

    >>> metric_named("accuracy").direction
    1

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; expected one of {', '.join(sorted(METRICS))}"
        ) from None
