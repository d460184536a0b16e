"""A SQLite registry with a real production classifier and a prediction log whose outcomes
follow a newer relationship than the one production learned."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.operations import Operations
from gateway.registration import PreparedVersion, prepare_estimator, register_prepared
from registry import OutcomeRecord, PredictionRecord, Stage
from registry.store.registry import Registry

MODEL = "btc"
FEATURES = ("f0", "f1", "f2")
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def old_labels(X: np.ndarray) -> np.ndarray:
    """What production learned: the sign of f0."""
    return (X[:, 0] > 0).astype(np.int64)


def new_labels(X: np.ndarray) -> np.ndarray:
    """What the outcomes follow now: the sign of f0 + f1 (production is right ~75%)."""
    return (X[:, 0] + X[:, 1] > 0).astype(np.int64)


@functools.cache
def production_prepared() -> PreparedVersion:
    """Production's converted classifier, fitted on the old relationship (built once)."""
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(1).normal(size=(400, 3)).astype(np.float32)
    y = old_labels(X)
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    return prepare_estimator(
        model, X, y, feature_names=FEATURES, target="direction", tags={"pair": "BTC-USD"}
    )


@dataclass(frozen=True, slots=True)
class Setup:
    registry: Registry
    operations: Operations


async def log_rows(
    registry: Registry,
    X: np.ndarray,
    y: np.ndarray,
    *,
    start: datetime = T0,
    prefix: str = "p",
    version: str = "1.0.0",
) -> None:
    """Log one single-row prediction per row of X (a second apart) and its outcome."""
    X = np.asarray(X, dtype="<f4")
    records = [
        PredictionRecord(
            prediction_id=f"{prefix}{i}",
            at=start + timedelta(seconds=i),
            model=MODEL,
            version=version,
            arm="production",
            experiment_id=None,
            routing_key="",
            rows=1,
            inputs=X[i].tobytes(),
            outputs=b"",
            predicted=0.0,
            latency_us=100,
        )
        for i in range(len(X))
    ]
    await registry.write_predictions(records)
    await registry.record_outcomes(
        [
            OutcomeRecord(f"{prefix}{i}", float(v), None, None, "production", records[i].at)
            for i, v in enumerate(y)
        ]
    )


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    """Production "btc" 1.0.0 and 600 logged rows following the new relationship, plus 5
    rows of another width (logged by a version with two features)."""
    registry = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'galgate.db'}")
    try:
        await register_prepared(registry, MODEL, production_prepared(), version="1.0.0")
        for stage in (Stage.STAGING, Stage.PRODUCTION):
            await registry.transition(MODEL, "1.0.0", stage, actor="test")
        X = np.random.default_rng(2).normal(size=(600, 3)).astype(np.float32)
        await log_rows(registry, X, new_labels(X))
        narrow = np.ones((5, 2), dtype=np.float32)
        await log_rows(registry, narrow, [1, 0, 1, 0, 1], start=T0 - timedelta(hours=1), prefix="n")
        yield Setup(registry, Operations(registry))
    finally:
        await registry.close()
