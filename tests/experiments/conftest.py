"""Fixtures for experiment tests: a weak and a strong regressor of one target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.ensemble import GradientBoostingRegressor

from converters import Conversion, convert
from gateway.config import Settings
from tests.gateway.conftest import FEATURES


@dataclass(frozen=True)
class Pair:
    """Control (weak) and treatment (strong) versions, plus fresh data to serve."""

    weak: Conversion
    strong: Conversion
    X: np.ndarray
    y: np.ndarray


@pytest.fixture(scope="session")
def pair() -> Pair:
    X, y = make_regression(n_samples=3000, n_features=len(FEATURES), noise=5.0, random_state=3)
    X = X.astype(np.float32)
    train, serve = slice(0, 1500), slice(1500, 3000)
    weak = GradientBoostingRegressor(n_estimators=2, random_state=0).fit(X[train], y[train])
    strong = GradientBoostingRegressor(n_estimators=80, random_state=0).fit(X[train], y[train])
    return Pair(
        weak=convert(weak, X[train], feature_names=FEATURES),
        strong=convert(strong, X[train], feature_names=FEATURES),
        X=X[serve],
        y=y[serve],
    )


def fast_settings(**overrides) -> Settings:
    """Gateway settings for experiment tests: loopback, short poll, monitor and flush."""
    values = dict(
        listen="127.0.0.1:0",
        poll_interval=0.05,
        monitor_interval=0.05,
        predlog_flush_interval=0.02,
        grace_seconds=1.0,
    )
    values.update(overrides)
    return Settings(**values)
