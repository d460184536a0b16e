"""A small deterministic demo classifier, registered and promoted to production as "demo"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.registration import register_estimator
from registry import ConflictError, ModelNotFoundError, ModelVersion, Stage
from registry.store.registry import Registry

DEMO_MODEL = "demo"
DEMO_VERSION = "1.0.0"
DEMO_FEATURES: tuple[str, ...] = (
    "ret_1m",
    "ret_5m",
    "vol_15m",
    "spread_bps",
    "imbalance",
    "rsi_14",
    "volume_z",
    "funding_rate",
)


@dataclass(frozen=True, slots=True)
class DemoData:
    """The demo's synthetic market features and sell/hold/buy labels (-1/0/1), split train/test."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    features: tuple[str, ...] = DEMO_FEATURES


def make_demo_data(rows: int = 2000, seed: int = 7) -> DemoData:
    """Synthetic, seeded feature rows whose label follows momentum, imbalance and RSI.

    >>> data = make_demo_data(rows=100)
    >>> data.X_train.shape, sorted(set(data.y_train.tolist())) == [-1, 0, 1]
    ((80, 8), True)
    """
    rng = np.random.default_rng(seed)
    ret_1m = rng.normal(0.0, 0.001, rows)
    ret_5m = 0.6 * ret_1m + rng.normal(0.0, 0.002, rows)
    vol_15m = rng.lognormal(np.log(0.004), 0.4, rows)
    spread_bps = rng.gamma(2.0, 1.5, rows)
    imbalance = rng.uniform(-1.0, 1.0, rows)
    rsi_14 = np.clip(50.0 + 4000.0 * ret_5m + rng.normal(0.0, 8.0, rows), 0.0, 100.0)
    volume_z = rng.normal(0.0, 1.0, rows)
    funding_rate = rng.normal(0.0001, 0.0003, rows)
    X = np.column_stack(
        [ret_1m, ret_5m, vol_15m, spread_bps, imbalance, rsi_14, volume_z, funding_rate]
    )
    score = (
        300.0 * ret_5m
        + 1.2 * imbalance
        - (rsi_14 - 50.0) / 40.0
        + 0.3 * volume_z * np.sign(ret_1m)
        - 0.05 * spread_bps
        + rng.normal(0.0, 0.3, rows)
    )
    y = np.where(score > 0.45, 1, np.where(score < -0.45, -1, 0)).astype(np.int64)
    cut = int(rows * 0.8)
    return DemoData(X[:cut], y[:cut], X[cut:], y[cut:])


def train_demo_model(data: DemoData) -> object:
    """Fit the demo's GradientBoostingClassifier (deterministic: fixed random_state)."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)
    return model.fit(data.X_train, data.y_train)


async def ensure_demo(registry: Registry, *, actor: str = "demo") -> ModelVersion | None:
    """Register "demo" 1.0.0 and promote it development -> staging -> production.

    Idempotent: when a model named "demo" already exists nothing is changed.

    Returns:
        The demo version now in production, or None when "demo" already existed.
    """
    try:
        await registry.get_model(DEMO_MODEL)
        return None
    except ModelNotFoundError:
        pass
    data = make_demo_data()
    model = train_demo_model(data)
    accuracy = float(np.mean(model.predict(data.X_test) == data.y_test))  # type: ignore[attr-defined]
    try:
        registered = await register_estimator(
            registry,
            DEMO_MODEL,
            model,
            data.X_train,
            data.y_train,
            feature_names=data.features,
            version=DEMO_VERSION,
            tags={"source": "galgate demo", "labels": "sell=-1,hold=0,buy=1"},
            description="Demo sell/hold/buy classifier on synthetic market features.",
            actor=actor,
            target="signal",
            reason="galgate demo",
            trained_by=actor,
            validation_metrics={"accuracy": accuracy},
        )
    except ConflictError:  # another process registered it first
        return None
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        registered = await registry.transition(
            DEMO_MODEL, registered.version, stage, actor=actor, reason="galgate demo"
        )
    return registered
