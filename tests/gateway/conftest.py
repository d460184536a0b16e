"""Fixtures for gateway tests: really converted models, a real registry, a real server."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from converters import Conversion, build_profile, convert
from gateway._pb.galgate.v1 import admin_pb2_grpc, prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server
from registry.entities import ModelVersion, Stage, VersionSpec
from registry.store.registry import Registry

FEATURES = ("ret_1m", "ret_5m", "vol_15m", "spread_bps", "imbalance", "rsi_14")


@dataclass(frozen=True)
class Trained:
    """Two classifiers (different versions of one model) and a regressor, converted."""

    X: np.ndarray
    clf_a: Conversion
    clf_b: Conversion
    reg: Conversion


@pytest.fixture(scope="session")
def trained() -> Trained:
    X, y = make_classification(
        n_samples=400, n_features=len(FEATURES), n_informative=4, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    clf_a = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    clf_b = LogisticRegression(max_iter=500).fit(X, y)
    Xr, yr = make_regression(n_samples=400, n_features=len(FEATURES), random_state=1)
    Xr = Xr.astype(np.float32)
    reg = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(Xr, yr)
    return Trained(
        X=X,
        clf_a=convert(clf_a, X, feature_names=FEATURES),
        clf_b=convert(clf_b, X, feature_names=FEATURES),
        reg=convert(reg, Xr, feature_names=FEATURES),
    )


async def register(
    registry: Registry, name: str, conversion: Conversion, X: np.ndarray, version: str | None = None
) -> ModelVersion:
    """Register a converted model with its reference profile (stage development)."""
    spec = VersionSpec(
        model_type=conversion.model_type,
        features=conversion.signature.features,
        signature=conversion.signature.to_dict(),
        hyperparameters=conversion.hyperparameters,
    )
    profile = build_profile(X, conversion.signature.features).to_bytes()
    return await registry.register_version(
        name, spec, conversion.onnx_bytes, profile=profile, version=version, actor="test"
    )


async def publish(
    registry: Registry, name: str, conversion: Conversion, X: np.ndarray, version: str | None = None
) -> ModelVersion:
    """Register and promote to production (development -> staging -> production)."""
    mv = await register(registry, name, conversion, X, version)
    await registry.transition(name, mv.version, Stage.STAGING, actor="test")
    return await registry.transition(name, mv.version, Stage.PRODUCTION, actor="test")


@pytest.fixture
async def sqlite_registry(tmp_path):
    registry = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'galgate.db'}")
    yield registry
    await registry.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(listen="127.0.0.1:0", poll_interval=0.05, grace_seconds=1.0)


@pytest.fixture
async def served(sqlite_registry, trained):
    """The registry with clf (version 1.0.0 production) and reg (production)."""
    await publish(sqlite_registry, "clf", trained.clf_a, trained.X)
    await publish(sqlite_registry, "reg", trained.reg, trained.X)
    return sqlite_registry


@pytest.fixture
async def gateway(served, settings):
    gw = build_server(settings, served)
    await gw.start()
    yield gw
    await gw.stop(grace=0)


@pytest.fixture
async def channel(gateway):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel):
    return prediction_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture
def admin(channel):
    return admin_pb2_grpc.ModelAdminStub(channel)
