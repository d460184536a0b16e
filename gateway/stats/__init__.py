"""Pure experiment statistics: running moments, Welch's test, sample size, mSPRT, metrics."""

from __future__ import annotations

from gateway.stats.metrics import (
    ABSOLUTE_ERROR,
    ACCURACY,
    METRICS,
    REWARD,
    SQUARED_ERROR,
    Metric,
    metric_named,
    winner,
)
from gateway.stats.moments import Moments, RunningMoments
from gateway.stats.msprt import SequentialResult, SequentialState, SequentialTest
from gateway.stats.sample_size import pooled_sigma, required_samples_per_arm
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
    "SequentialResult",
    "SequentialState",
    "SequentialTest",
    "WelchResult",
    "metric_named",
    "pooled_sigma",
    "required_samples_per_arm",
    "welch_test",
    "winner",
]
