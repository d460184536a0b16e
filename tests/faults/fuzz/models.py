"""The fuzz suite's models: really converted estimators and hostile hand-built graphs,
and how they are put into a registry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from lightgbm import LGBMRegressor
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from xgboost import XGBClassifier

from converters import build_profile, convert, validate_onnx
from registry.entities import ModelVersion, Stage, VersionSpec
from registry.store.registry import Registry
from tests.faults.fuzz import onnx_models

FEATURES = ("ret_1m", "ret_5m", "vol_15m", "spread_bps", "imbalance", "rsi_14")
NORMAL_ROW = dict(zip(FEATURES, (0.1, -0.2, 1.1, 2.0, 0.3, 55.0), strict=True))


@dataclass(frozen=True)
class Artifact:
    """ONNX bytes, their signature document, features and a sample for the profile."""

    onnx_bytes: bytes
    signature: dict
    features: tuple[str, ...]
    model_type: str
    X: np.ndarray


def _converted(estimator, X, y) -> Artifact:
    conversion = convert(estimator.fit(X, y), X, feature_names=FEATURES)
    return Artifact(
        conversion.onnx_bytes,
        conversion.signature.to_dict(),
        conversion.signature.features,
        conversion.model_type,
        X,
    )


def _hostile(onnx_bytes: bytes, features: tuple[str, ...]) -> Artifact:
    signature = validate_onnx(onnx_bytes, feature_names=list(features))
    X = np.random.default_rng(0).normal(size=(50, len(features))).astype(np.float32)
    return Artifact(onnx_bytes, signature.to_dict(), signature.features, "onnx", X)


def build_artifacts() -> dict[str, list[Artifact]]:
    """Every model's versions, oldest first, converted once per session."""
    X, y = make_classification(
        n_samples=300, n_features=len(FEATURES), n_informative=4, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    Xr, yr = make_regression(n_samples=300, n_features=len(FEATURES), random_state=1)
    Xr = Xr.astype(np.float32)
    direction = y.astype(np.int64) - 1
    echo = onnx_models.ECHO_FEATURES
    return {
        "clf": [
            _converted(GradientBoostingClassifier(n_estimators=5, random_state=0), X, y),
            _converted(LogisticRegression(max_iter=300), X, y),
        ],
        "reg": [
            _converted(GradientBoostingRegressor(n_estimators=5, random_state=0), Xr, yr),
            _converted(Ridge(), Xr, yr),
        ],
        "direction": [_converted(LogisticRegression(max_iter=300), X, direction)],
        "xgb": [_converted(XGBClassifier(n_estimators=5, max_depth=2), X, (y > 0).astype(int))],
        "lgbm": [_converted(LGBMRegressor(n_estimators=5, verbose=-1), Xr, yr)],
        "echo-idx": [_hostile(onnx_models.echo_classifier(), echo)],
        "echo-int": [_hostile(onnx_models.echo_classifier((-1, 0, 1)), echo)],
        "echo-str": [_hostile(onnx_models.echo_classifier(("down", "flat", "up")), echo)],
        "victim": [_hostile(onnx_models.linear_regressor(len(FEATURES)), FEATURES)],
    }


# Stage of each version, per model; models not named here have one production version.
_STAGES = {
    "clf": (Stage.PRODUCTION, Stage.STAGING),
    "reg": (Stage.PRODUCTION, Stage.STAGING),
}
_PATH = {
    Stage.DEVELOPMENT: (),
    Stage.STAGING: (Stage.STAGING,),
    Stage.PRODUCTION: (Stage.STAGING, Stage.PRODUCTION),
}
_victims = itertools.count(1)


_profiles: dict[int, bytes] = {}


def _profile(artifact: Artifact) -> bytes:
    """The artifact's reference profile, built once."""
    key = id(artifact)
    if key not in _profiles:
        _profiles[key] = build_profile(artifact.X, artifact.features).to_bytes()
    return _profiles[key]


async def add_version(
    registry: Registry, name: str, artifact: Artifact, version: str, stage: Stage
) -> ModelVersion:
    """Register one version (with its reference profile) and walk it to ``stage``."""
    spec = VersionSpec(
        model_type=artifact.model_type, features=artifact.features, signature=artifact.signature
    )
    profile = _profile(artifact)
    mv = await registry.register_version(
        name, spec, artifact.onnx_bytes, profile=profile, version=version, actor="fuzz-setup"
    )
    for step in _PATH[stage]:
        mv = await registry.transition(name, version, step, actor="fuzz-setup")
    return mv


async def populate(registry: Registry, artifacts: dict[str, list[Artifact]]) -> None:
    """Register every model of ``build_artifacts`` in its stages (see conftest)."""
    for name, versions in artifacts.items():
        stages = _STAGES.get(name, (Stage.PRODUCTION,))
        for i, (artifact, stage) in enumerate(zip(versions, stages, strict=True)):
            await add_version(registry, name, artifact, f"1.0.{i}", stage)


async def add_victim(registry: Registry, artifacts: dict[str, list[Artifact]]) -> str:
    """A fresh model for one example's stage changes and experiments: 1.0.0 production,
    1.0.1 staging, 1.0.2 development (a linear regressor over FEATURES)."""
    name = f"victim-{next(_victims)}"
    artifact = artifacts["victim"][0]
    for i, stage in enumerate((Stage.PRODUCTION, Stage.STAGING, Stage.DEVELOPMENT)):
        await add_version(registry, name, artifact, f"1.0.{i}", stage)
    return name
