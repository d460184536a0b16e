"""Turn an estimator or an ONNX file plus its data into a registered, validated version."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters import (
    ParityReport,
    Signature,
    Tolerance,
    build_profile,
    convert,
    validate_onnx,
)
from converters.validate import DEFAULT_MAX_BYTES as DEFAULT_MAX_ONNX_BYTES
from registry import ModelVersion, VersionSpec
from registry.store.registry import Registry


@dataclass(frozen=True, slots=True)
class PreparedVersion:
    """Everything a registration uploads, built (and checked) on the caller's side.

    ``parity`` is None when the caller supplied ready-made ONNX: there is no
    original model to compare with.
    """

    spec: VersionSpec
    onnx_bytes: bytes
    profile_bytes: bytes
    signature: Signature
    parity: ParityReport | None
    max_onnx_bytes: int = DEFAULT_MAX_ONNX_BYTES


def _metrics(model: Any, X: np.ndarray, y: np.ndarray | None, task: str) -> dict[str, float]:
    """Quality of the estimator on the data it was registered with (train-set figures)."""
    if y is None or len(y) == 0:
        return {}
    predicted, y = np.asarray(model.predict(X)).ravel(), np.asarray(y).ravel()
    if task == "classification":
        numeric = predicted.dtype.kind in "biuf" and y.dtype.kind in "biuf"
        same = predicted == y if numeric else predicted.astype(str) == y.astype(str)
        return {"accuracy": float(np.mean(same))}
    error = predicted.astype(float) - y.astype(float)
    return {"rmse": math.sqrt(float(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def prepare_estimator(
    model: Any,
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    feature_names: Sequence[str],
    tags: Mapping[str, str] | None = None,
    description: str = "",
    target: str = "",
    trained_by: str = "",
    validation_metrics: Mapping[str, float] | None = None,
    tolerance: Tolerance | None = None,
    max_onnx_bytes: int = DEFAULT_MAX_ONNX_BYTES,
) -> PreparedVersion:
    """Convert a fitted estimator to ONNX, check parity on ``X`` and profile ``X``.

    Args:
        model: a fitted sklearn / xgboost / lightgbm estimator.
        X: the feature matrix (rows, features) used for parity and the reference profile.
        y: the target column, when known: train-set metrics are recorded from it.
        feature_names: one name per column of ``X``, in order.
        tags, description, target, trained_by, validation_metrics: stored with the version.
        tolerance: parity tolerance (converters' default when None).
        max_onnx_bytes: the artifact size cap.

    Returns:
        The prepared version; raises ``ConversionError`` when conversion or parity fails.
    """
    X = np.asarray(X)
    names = list(feature_names)
    conversion = convert(model, X, feature_names=names, tolerance=tolerance or Tolerance())
    signature = conversion.signature
    spec = VersionSpec(
        model_type=conversion.model_type,
        features=tuple(signature.features),
        signature=signature.to_dict(),
        target=target,
        training_samples=len(X),
        trained_by=trained_by,
        hyperparameters=dict(conversion.hyperparameters),
        feature_importance=dict(conversion.feature_importance),
        metrics=_metrics(model, X, y, signature.task),
        validation_metrics=dict(validation_metrics or {}),
        tags=dict(tags or {}),
        description=description,
    )
    profile = build_profile(X, list(signature.features)).to_bytes()
    return PreparedVersion(
        spec, conversion.onnx_bytes, profile, signature, conversion.parity, max_onnx_bytes
    )


def prepare_onnx(
    onnx_bytes: bytes,
    X: np.ndarray,
    *,
    feature_names: Sequence[str],
    tags: Mapping[str, str] | None = None,
    description: str = "",
    target: str = "",
    trained_by: str = "",
    max_onnx_bytes: int = DEFAULT_MAX_ONNX_BYTES,
) -> PreparedVersion:
    """Validate ready-made ONNX bytes and profile ``X`` (its features, in column order).

    Raises ``ConversionError`` when the bytes are not a valid ONNX model for
    ``len(feature_names)`` features.
    """
    X = np.asarray(X)
    names = list(feature_names)
    signature = validate_onnx(onnx_bytes, max_bytes=max_onnx_bytes, feature_names=names)
    spec = VersionSpec(
        model_type="onnx",
        features=tuple(signature.features),
        signature=signature.to_dict(),
        target=target,
        training_samples=len(X),
        trained_by=trained_by,
        tags=dict(tags or {}),
        description=description,
    )
    profile = build_profile(X, list(signature.features)).to_bytes()
    return PreparedVersion(spec, bytes(onnx_bytes), profile, signature, None, max_onnx_bytes)


async def register_prepared(
    registry: Registry,
    name: str,
    prepared: PreparedVersion,
    *,
    version: str | None = None,
    actor: str = "cli",
    reason: str = "",
) -> ModelVersion:
    """Register a prepared version through the use-case layer (vetted like an upload)."""
    from gateway.operations import Operations

    operations = Operations(registry, max_upload_bytes=prepared.max_onnx_bytes)
    return await operations.register(
        name,
        prepared.spec,
        prepared.onnx_bytes,
        profile=prepared.profile_bytes,
        version=version,
        actor=actor,
        reason=reason,
    )


async def register_estimator(
    registry: Registry,
    name: str,
    model: Any,
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    feature_names: Sequence[str],
    version: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    actor: str = "cli",
    target: str = "",
    reason: str = "",
    trained_by: str = "",
    validation_metrics: Mapping[str, float] | None = None,
    tolerance: Tolerance | None = None,
    max_onnx_bytes: int = DEFAULT_MAX_ONNX_BYTES,
) -> ModelVersion:
    """Convert, parity-check, profile and register a fitted estimator (stage development).

    Conversion runs in a worker thread so an event loop (the gateway's demo mode)
    keeps serving meanwhile.

    Returns:
        The registered version. Raises ``ConversionError`` or ``RegistryError``;
        nothing is written unless every check passed.
    """
    prepared = await asyncio.to_thread(
        prepare_estimator,
        model,
        X,
        y,
        feature_names=feature_names,
        tags=tags,
        description=description,
        target=target,
        trained_by=trained_by,
        validation_metrics=validation_metrics,
        tolerance=tolerance,
        max_onnx_bytes=max_onnx_bytes,
    )
    return await register_prepared(
        registry, name, prepared, version=version, actor=actor, reason=reason
    )


async def register_onnx(
    registry: Registry,
    name: str,
    onnx_bytes: bytes,
    X: np.ndarray,
    *,
    feature_names: Sequence[str],
    version: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    actor: str = "cli",
    target: str = "",
    reason: str = "",
    max_onnx_bytes: int = DEFAULT_MAX_ONNX_BYTES,
) -> ModelVersion:
    """Validate, profile and register ready-made ONNX bytes (stage development).

    Returns:
        The registered version. Raises ``ConversionError`` for invalid ONNX,
        ``RegistryError`` for registry failures; nothing is written on error.
    """
    prepared = await asyncio.to_thread(
        prepare_onnx,
        onnx_bytes,
        X,
        feature_names=feature_names,
        tags=tags,
        description=description,
        target=target,
        max_onnx_bytes=max_onnx_bytes,
    )
    return await register_prepared(
        registry, name, prepared, version=version, actor=actor, reason=reason
    )
