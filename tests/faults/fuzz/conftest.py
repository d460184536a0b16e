"""Fixtures of the fuzz suite: really converted models on a real SQLite registry, served by
the production server factory with an admin token, one gateway per test module.

Models (all in production unless said otherwise; see models.py):

- ``clf`` GradientBoostingClassifier, 3 classes (1.0.0); 1.0.1 LogisticRegression in staging
- ``reg`` GradientBoostingRegressor (1.0.0); 1.0.1 Ridge in staging
- ``direction`` LogisticRegression with classes -1 / 0 / 1
- ``xgb`` XGBClassifier (binary), ``lgbm`` LGBMRegressor
- ``echo-idx`` / ``echo-int`` / ``echo-str``: hostile 3-class graphs (labels 0..2, -1/0/1
  and strings) that pass the load probe but answer any label the caller asks for past a
  trigger value of the first feature (``onnx_models.trigger_value``)
- ``victim``: a linear regressor; tests that change stages or run experiments make a fresh
  copy per example (``models.add_victim``), so no example sees another's state.

Liveness probes (``Harness.assert_serving``) predict on ``clf`` and ``reg``; the fuzz never
sends stage changes or experiments for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from hypothesis import Phase, settings

from gateway._pb.inference import grpc_predict_v2_pb2 as ipb
from gateway.config import Settings
from gateway.server.app import build_server
from registry.store.registry import Registry
from tests.faults.fuzz.harness import Harness, ServerLog
from tests.faults.fuzz.models import NORMAL_ROW, Artifact, build_artifacts, populate


@pytest.fixture(autouse=True)
def _bounded_shrinking() -> Iterator[None]:
    """Cap Hypothesis' shrinking at GALGATE_FUZZ_SHRINK_SECONDS (default 15 s) per failing
    fuzz test instead of its 300 s: an example here is a few gRPC calls, and a run with
    several failures must still end in minutes. Only this directory's tests are affected."""
    from hypothesis.internal.conjecture import engine

    if not hasattr(engine, "MAX_SHRINKING_SECONDS"):
        yield
        return
    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = int(os.environ.get("GALGATE_FUZZ_SHRINK_SECONDS", "15"))
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


# ``pytest tests/faults/fuzz --hypothesis-profile=fuzz-fast``: no shrinking, for a quick
# look (failures are reported as found, not minimised).
settings.register_profile(
    "fuzz-fast", phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
)


@pytest.fixture(scope="session")
def artifacts() -> dict[str, list[Artifact]]:
    """Every model's versions, oldest first, converted once per session."""
    return build_artifacts()


@contextlib.asynccontextmanager
async def serving(
    path: Path, artifacts: dict[str, list[Artifact]], models: tuple[str, ...] | None = None
) -> AsyncIterator[Harness]:
    """A started gateway (admin token set) on a fresh SQLite registry at ``path`` holding
    ``models`` (default: all), and an authorised harness on one channel to it."""
    registry = await Registry.open(f"sqlite+aiosqlite:///{path}")
    chosen = artifacts if models is None else {m: artifacts[m] for m in models}
    await populate(registry, chosen)
    token = secrets.token_urlsafe(24)
    settings = Settings(
        listen="127.0.0.1:0",
        admin_token=token,
        poll_interval=0.05,
        grace_seconds=0.0,
        outcome_wait=0.05,
        predlog_flush_interval=0.05,
        # Tests tick the experiment monitor themselves, when they want to.
        monitor_interval=3600.0,
    )
    log = ServerLog()
    root = logging.getLogger()
    root.addHandler(log)
    gateway = build_server(settings, registry)
    try:
        await gateway.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            h = Harness(
                gateway=gateway,
                channel=channel,
                token=token,
                log=log,
                artifacts=artifacts,
                probes=(("clf", NORMAL_ROW), ("reg", NORMAL_ROW)),
            )
            for _ in range(200):  # health turns SERVING once production is warm
                try:
                    await h.assert_serving()
                    break
                except AssertionError:
                    await asyncio.sleep(0.05)
            await h.assert_serving()
            unready = [
                name
                for name in chosen
                if not (await h.infer.ModelReady(ipb.ModelReadyRequest(name=name))).ready
            ]
            if unready:  # a fuzz test of a model that is not served would pass vacuously
                raise RuntimeError(f"models not served: {unready}\n{log.since(0)}")
            yield h
    finally:
        await gateway.stop(grace=0)
        await registry.close()
        root.removeHandler(log)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory, artifacts) -> AsyncIterator[Harness]:
    """The module's gateway, serving every model of models.py."""
    async with serving(tmp_path_factory.mktemp("fuzz") / "galgate.db", artifacts) as h:
        yield h
