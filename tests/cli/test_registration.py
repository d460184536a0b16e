"""In-process registration glue and the demo model, on SQLite and PostgreSQL registries."""

from __future__ import annotations

import numpy as np
import pytest

from converters import load_session
from converters.errors import ConversionError
from gateway.demo import DEMO_FEATURES, DEMO_MODEL, ensure_demo, make_demo_data
from gateway.registration import register_estimator, register_onnx
from registry import ModelNotFoundError, Stage
from registry.store.registry import Registry


async def test_register_onnx_garbage_bytes_raises_and_writes_nothing(registry: Registry) -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ConversionError):
        await register_onnx(registry, "junk", b"\x08\x01garbage", X, feature_names=["a", "b", "c"])
    with pytest.raises(ModelNotFoundError):
        await registry.get_model("junk")


async def test_register_estimator_stores_profile_metrics_and_loadable_onnx(
    registry: Registry,
) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = LogisticRegression().fit(X, y)
    names = ["a", "b", "c", "d"]
    version = await register_estimator(
        registry, "logit", model, X, y, feature_names=names, tags={"k": "v"}, target="up"
    )
    assert (version.version, version.stage) == ("1.0.0", Stage.DEVELOPMENT)
    assert version.has_profile
    assert version.spec.features == tuple(names)
    assert version.spec.target == "up"
    assert version.spec.metrics["accuracy"] > 0.9
    _, onnx_bytes = await registry.load_version_artifact("logit", "1.0.0")
    session = load_session(onnx_bytes)
    assert session.get_inputs()[0].shape[-1] == 4


async def test_ensure_demo_twice_registers_once_in_production(registry: Registry) -> None:
    first = await ensure_demo(registry, actor="ops")
    assert first is not None
    assert (first.name, first.stage) == (DEMO_MODEL, Stage.PRODUCTION)
    assert first.spec.features == DEMO_FEATURES
    assert await ensure_demo(registry, actor="ops") is None
    model = await registry.get_model(DEMO_MODEL)
    assert [v.version for v in model.versions] == ["1.0.0"]
    history = await registry.history(DEMO_MODEL)
    assert [t.to_stage for t in history] == [Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION]


def test_make_demo_data_is_deterministic_with_all_three_classes() -> None:
    a, b = make_demo_data(), make_demo_data()
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    counts = np.bincount(a.y_train + 1)
    assert len(counts) == 3 and counts.min() > 0.1 * len(a.y_train)
