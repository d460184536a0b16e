"""Pure experiment statistics: running moments, Welch's test, sample size, the always-valid
sequential tests, metrics."""

from __future__ import annotations

from gateway.stats import sequential
from gateway.stats.metrics import (
    ABSOLUTE_ERROR,
    ACCURACY,
    METRICS,
    REWARD,
    SQUARED_ERROR,
    Metric,
    metric_named,
)
from gateway.stats.moments import Moments, RunningMoments
from gateway.stats.sample_size import (
    pooled_sigma,
    required_samples_per_arm,
    sequential_samples_per_arm,
)
from gateway.stats.welch import WelchResult, welch_test

__all__ = [
    "ABSOLUTE_ERROR",
    "ACCURACY",
    "METRICS",
    "REWARD",
    "SQUARED_ERROR",
    "Metric",
    "Moments",
    "RunningMoments",
    "WelchResult",
    "metric_named",
    "pooled_sigma",
    "required_samples_per_arm",
    "sequential",
    "sequential_samples_per_arm",
    "welch_test",
]
