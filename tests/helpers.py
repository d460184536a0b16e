"""Test helpers shared across test packages: specs, fake artifacts, staged versions, raw SQL."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from registry.db import normalize_url
from registry.entities import ModelVersion, Stage, VersionSpec
from registry.repository import Registry

FEATURES = ("f0", "f1", "f2")

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


async def register_in_stage(
    registry: Registry, name: str, stage: Stage, *, version: str | None = None
) -> ModelVersion:
    """Register a fresh version of ``name`` and walk it to ``stage`` along valid moves.

    Reaching archived does not need force: the path goes development -> archived. Reaching
    production demotes whatever was in production before.
    """
    mv = await registry.register_version(
        name, make_spec(), fake_artifact(), version=version, actor="test"
    )
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
