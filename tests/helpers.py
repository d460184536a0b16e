"""Test helpers shared across test packages: specs, fake artifacts, staged versions, raw SQL,
racing registries, experiments, predictions and outcomes."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from registry.db import normalize_url
from registry.entities import (
    Experiment,
    ExperimentSpec,
    ExperimentState,
    ModelVersion,
    OutcomeRecord,
    PredictionRecord,
    Stage,
    VersionSpec,
)
from registry.store.registry import Registry

FEATURES = ("f0", "f1", "f2")
T = TypeVar("T")

# The valid path from a fresh (development) version to each stage.
_PATH: Mapping[Stage, tuple[Stage, ...]] = {
    Stage.DEVELOPMENT: (),
    Stage.STAGING: (Stage.STAGING,),
    Stage.PRODUCTION: (Stage.STAGING, Stage.PRODUCTION),
    Stage.ARCHIVED: (Stage.ARCHIVED,),
}


def make_spec(features: Sequence[str] = FEATURES, **overrides: Any) -> VersionSpec:
    """Return a plausible VersionSpec; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "model_type": "sklearn.linear_model.LogisticRegression",
        "features": tuple(features),
        "signature": {
            "features": list(features),
            "inputs": [{"name": "input", "dtype": "float32", "shape": [None, len(features)]}],
        },
        "target": "direction",
        "training_samples": 1000,
        "hyperparameters": {"C": 1.0, "max_iter": 100},
        "metrics": {"accuracy": 0.61},
        "tags": {"pair": "BTC-USD"},
    }
    fields.update(overrides)
    return VersionSpec(**fields)


def fake_artifact(size: int = 256) -> bytes:
    """Return random bytes standing in for an ONNX file (the registry does not parse it)."""
    return os.urandom(size)


@functools.cache
def servable_artifact() -> tuple[bytes, dict[str, Any]]:
    """A real converted classifier on FEATURES: its ONNX bytes and signature (built once).

    For tests whose versions must load and pass the probe (promotion through
    ``gateway.operations`` loads the version first, whichever door asks).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from converters import convert

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURES)))
    y = (X[:, 0] > 0).astype(np.int64)
    conversion = convert(LogisticRegression().fit(X, y), X, feature_names=list(FEATURES))
    return conversion.onnx_bytes, conversion.signature.to_dict()


async def register_in_stage(
    registry: Registry,
    name: str,
    stage: Stage,
    *,
    version: str | None = None,
    servable: bool = False,
) -> ModelVersion:
    """Register a fresh version of ``name`` and walk it to ``stage`` along valid moves.

    Reaching archived does not need force: the path goes development -> archived. Reaching
    production demotes whatever was in production before. ``servable``: a real model that
    loads (see :func:`servable_artifact`), else random bytes.
    """
    if servable:
        artifact, signature = servable_artifact()
        spec = make_spec(signature=signature)
    else:
        artifact, spec = fake_artifact(), make_spec()
    mv = await registry.register_version(name, spec, artifact, version=version, actor="test")
    for step in _PATH[stage]:
        mv = await registry.transition(name, mv.version, step, actor="test")
    return mv


async def execute_sql(url: str, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Run one raw SQL statement on its own engine, commit, and return any rows.

    For tampering with the database behind the registry's back (corrupting an artifact,
    stamping a newer schema version, bypassing the code's checks).
    """
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), dict(params or {}))
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def race(
    db_url: str, count: int, call: Callable[[Registry, int], Awaitable[T]]
) -> list[T | BaseException]:
    """Run ``call(registry, i)`` on ``count`` separately opened registries at once.

    Returns:
        Each call's result or the exception it raised, in call order.
    """
    others = [await Registry.open(db_url) for _ in range(count)]
    try:
        start = asyncio.Event()

        async def one(reg: Registry, i: int) -> T:
            await start.wait()
            return await call(reg, i)

        tasks = [asyncio.create_task(one(reg, i)) for i, reg in enumerate(others)]
        await asyncio.sleep(0)
        start.set()
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for reg in others:
            await reg.close()


def make_experiment_spec(
    model: str = "m",
    control: str = "1.0.0",
    treatment: str = "1.0.1",
    **overrides: Any,
) -> ExperimentSpec:
    """Return a valid ExperimentSpec; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "model": model,
        "control_version": control,
        "treatment_version": treatment,
        "strategy": "random",
        "metric": "squared_error",
        "split": 0.5,
        "min_samples": 50,
        "name": "challenger",
    }
    fields.update(overrides)
    return ExperimentSpec(**fields)


async def experiment_pair(
    registry: Registry, name: str = "m", *, servable: bool = False
) -> tuple[ModelVersion, ModelVersion]:
    """Register a production control and a staging treatment version of ``name``."""
    control = await register_in_stage(registry, name, Stage.PRODUCTION, servable=servable)
    treatment = await register_in_stage(registry, name, Stage.STAGING, servable=servable)
    return control, treatment


# How to reach each experiment state from a fresh, running experiment.
_EXPERIMENT_PATH: Mapping[ExperimentState, tuple[ExperimentState, ...]] = {
    ExperimentState.CREATED: (),
    ExperimentState.RUNNING: (),
    ExperimentState.PAUSED: (ExperimentState.PAUSED,),
    ExperimentState.COMPLETED: (ExperimentState.COMPLETED,),
    ExperimentState.STOPPED: (ExperimentState.STOPPED,),
}


async def experiment_in_state(
    registry: Registry, state: ExperimentState, name: str = "m", **overrides: Any
) -> Experiment:
    """Register two versions of ``name`` and create an experiment walked to ``state``."""
    control, treatment = await experiment_pair(registry, name)
    spec = make_experiment_spec(name, control.version, treatment.version, **overrides)
    exp = await registry.create_experiment(
        spec, actor="test", start=state is not ExperimentState.CREATED
    )
    for step in _EXPERIMENT_PATH[state]:
        exp = await registry.transition_experiment(exp.id, step, actor="test")
    return exp


def make_prediction(prediction_id: str, **overrides: Any) -> PredictionRecord:
    """Return a single-row PredictionRecord of three float32 features; override any field."""
    fields: dict[str, Any] = {
        "prediction_id": prediction_id,
        "at": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "model": "m",
        "version": "1.0.0",
        "arm": "production",
        "experiment_id": None,
        "routing_key": "",
        "rows": 1,
        "inputs": bytes(range(12)),
        "outputs": bytes(range(8)),
        "predicted": 1.0,
        "latency_us": 250,
    }
    fields.update(overrides)
    return PredictionRecord(**fields)


def make_outcome(prediction_id: str, value: float = 1.0, **overrides: Any) -> OutcomeRecord:
    """Return an OutcomeRecord outside any experiment; override any field."""
    fields: dict[str, Any] = {
        "prediction_id": prediction_id,
        "value": value,
        "metric_value": None,
        "experiment_id": None,
        "arm": "production",
        "at": datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    }
    fields.update(overrides)
    return OutcomeRecord(**fields)
