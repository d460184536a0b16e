"""Fixtures for the Open Inference Protocol tests: real converted models, registry, gateway."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from converters import Conversion, build_profile, convert, load_session
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.config import Settings
from gateway.server.app import Gateway, build_server
from registry import Registry, Stage, VersionSpec

FEATURES = ("ret_1m", "ret_5m", "spread", "imbalance")


@dataclass(frozen=True, slots=True)
class Trained:
    """A really converted model plus what the tests compare the gateway against."""

    name: str
    conversion: Conversion
    profile: bytes
    X: np.ndarray  # float32 rows the model was trained on

    def expected(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of a local onnxruntime run of the same bytes."""
        session = load_session(self.conversion.onnx_bytes)
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {self.conversion.signature.input_name: x})
        return dict(zip(names, values, strict=True))


def _trained(name: str, model: object, X: np.ndarray) -> Trained:
    conversion = convert(model, X, feature_names=FEATURES)
    profile = build_profile(X, conversion.signature.features).to_bytes()
    return Trained(name=name, conversion=conversion, profile=profile, X=X)


@pytest.fixture(scope="session")
def models() -> dict[str, Trained]:
    """direction: int labels -1/0/1; regime: string labels; returns: a regressor."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, len(FEATURES))).astype(np.float32)
    direction = np.where(X[:, 0] > 0.3, 1, np.where(X[:, 0] < -0.3, -1, 0))
    regime = np.array(["calm", "trend", "volatile"])[(X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)]
    returns = 0.5 * X[:, 0] - 0.25 * X[:, 3] + 0.01 * rng.normal(size=len(X))
    return {
        "direction": _trained("direction", LogisticRegression().fit(X, direction), X),
        "regime": _trained("regime", LogisticRegression().fit(X, regime), X),
        "returns": _trained("returns", LinearRegression().fit(X, returns), X),
    }


async def publish(registry: Registry, trained: Trained, version: str | None = None) -> str:
    """Register a version and promote it development -> staging -> production."""
    conversion = trained.conversion
    spec = VersionSpec(
        model_type=conversion.model_type,
        features=conversion.signature.features,
        signature=conversion.signature.to_dict(),
    )
    registered = await registry.register_version(
        trained.name, spec, conversion.onnx_bytes, profile=trained.profile, version=version
    )
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        await registry.transition(trained.name, registered.version, stage, actor="tests")
    return registered.version


@pytest.fixture
async def registry(tmp_path, models):
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}")
    for trained in models.values():
        await publish(reg, trained, version="1.0.0")
    yield reg
    await reg.close()


@pytest.fixture
async def gateway(registry) -> Gateway:
    gw = build_server(Settings(listen="127.0.0.1:0"), registry)
    await gw.start()
    async with asyncio.timeout(10):
        while not gw.pool.ready:
            await asyncio.sleep(0.02)
    yield gw
    await gw.stop(grace=0)


@pytest.fixture
async def stub(gateway):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)
