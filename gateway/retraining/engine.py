"""The retraining engine: log data -> trainer (own process) -> ONNX -> validated -> staging.

``retrain`` reads the production version and the training data the prediction log holds
for the model (single-row predictions joined with their outcomes), holds out the newest
rows, has the configured trainer fit a candidate on the older rows in a separate process
(``trainer.py``), converts it with the parity check (``gateway.registration``), and
compares it with production on the held-out rows (``validate.py``). Only a candidate that
passes is registered, with its lineage in the version's tags, and moved to staging.

Production is never touched here: the engine neither promotes to production nor starts
experiments. Run tracking, alerts and the validation experiment belong to the caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from converters import Signature
from gateway.brief import brief
from gateway.errors import (
    InvalidInputError,
    RetrainingCancelledError,
    RetrainingDataError,
    RetrainingError,
    TrainerError,
)
from gateway.registration import prepare_estimator
from gateway.retraining.request import TrainingRequest, TrainingResult, data_hash
from gateway.retraining.trainer import check_spec, run_trainer
from gateway.retraining.validate import DEFAULT_MARGIN, Validation, validate_candidate
from gateway.serving.loader import build_loaded
from registry.entities import ModelVersion, RetrainingState, Stage, TrainingData
from registry.rules.values import MAX_LABEL_CHARS, MAX_TAGS, MAX_TEXT_CHARS

if TYPE_CHECKING:
    from gateway.operations import Operations

DEFAULT_MIN_ROWS = 200
DEFAULT_HOLDOUT = 0.2
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_ROWS = 100_000
MAX_TRIGGER_CHARS = 64
#: The tags a retrained version carries (besides those inherited from its parent).
LINEAGE_TAGS = (
    "parent_version",
    "retraining_reason",
    "retraining_trigger",
    "trainer",
    "data_hash",
    "training_window_start",
    "training_window_end",
    "holdout_rows",
    "validation_metric",
    "validation_margin",
    "candidate_metric",
    "production_metric",
)


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    """What one retraining did.

    Attributes:
        model: the model retrained.
        state: SUCCEEDED (a candidate registered and moved to staging) or REJECTED (it
            did not beat production by the margin; nothing registered).
        parent_version: the production version it was compared with.
        new_version: the registered candidate ("" when rejected).
        validation: both figures on the held-out rows and the verdict.
        rows: rows the candidate was fitted on.
        holdout_rows: newest logged rows held out for validation.
        skipped_rows: logged rows left out: their width is not the model's, or they hold
            a non-finite number.
        data_hash: sha256 of the training data (see ``request.data_hash``).
        window_start, window_end: when the first and last training rows were predicted.
        training_seconds: the trainer's process, start to answer.
        total_seconds: the whole call, data read to staging.
        trainer_metrics: the figures a TrainingResult carried.
        notes: remarks for the record (the trainer's note, rows truncated, ...).
    """

    model: str
    state: RetrainingState
    parent_version: str
    new_version: str
    validation: Validation
    rows: int
    holdout_rows: int
    skipped_rows: int
    data_hash: str
    window_start: datetime
    window_end: datetime
    training_seconds: float
    total_seconds: float
    trainer_metrics: Mapping[str, float]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Rows:
    X: np.ndarray  # float32 [rows, features]
    y: np.ndarray  # float64 [rows]
    at: tuple[datetime, ...]
    skipped: int


def decode_rows(data: TrainingData, n_features: int) -> _Rows:
    """The logged inputs as a float32 matrix; rows of another width (logged by a version
    with other features) or holding NaN/inf are skipped and counted."""
    width = 4 * n_features
    keep = [i for i, raw in enumerate(data.inputs) if len(raw) == width]
    everything = len(keep) == len(data.inputs)
    inputs = data.inputs if everything else [data.inputs[i] for i in keep]
    X = np.frombuffer(b"".join(inputs), dtype="<f4").reshape(len(keep), n_features)
    y = np.asarray(data.values if everything else [data.values[i] for i in keep], np.float64)
    at = data.at if everything else tuple(data.at[i] for i in keep)
    finite = np.isfinite(X).all(axis=1) & np.isfinite(y)
    if not finite.all():
        X, y = X[finite], y[finite]
        at = tuple(t for t, ok in zip(at, finite.tolist(), strict=True) if ok)
    return _Rows(X.astype(np.float32), y, tuple(at), len(data) - len(y))


def _check_arguments(
    trainer: str,
    reason: str,
    trigger: str,
    window: timedelta | None,
    min_rows: int,
    holdout: float,
    margin: float,
    timeout: float,
    max_rows: int,
) -> None:
    check_spec(trainer)
    problems = []
    if not isinstance(reason, str) or len(reason) > MAX_TEXT_CHARS:
        problems.append(f"reason must be a string of at most {MAX_TEXT_CHARS} characters")
    if not isinstance(trigger, str) or not 0 < len(trigger) <= MAX_TRIGGER_CHARS:
        problems.append(f"trigger must be a string of 1 to {MAX_TRIGGER_CHARS} characters")
    if window is not None and (not isinstance(window, timedelta) or window <= timedelta(0)):
        problems.append(f"window must be a positive timedelta or None, got {window!r}")
    if type(min_rows) is not int or min_rows < 2:
        problems.append(f"min_rows must be an integer >= 2, got {min_rows!r}")
    if not isinstance(holdout, int | float) or not 0.0 < holdout <= 0.5:
        problems.append(f"holdout must be a fraction in (0, 0.5], got {holdout!r}")
    if not isinstance(margin, int | float) or not 0.0 <= margin < 10.0:
        problems.append(f"margin must be a relative gain in [0, 10), got {margin!r}")
    if not isinstance(timeout, int | float) or not 0.0 < timeout < math.inf:
        problems.append(f"timeout must be a positive number of seconds, got {timeout!r}")
    if type(max_rows) is not int or not 2 <= max_rows <= 1_000_000:
        problems.append(f"max_rows must be an integer from 2 to 1000000, got {max_rows!r}")
    if problems:
        raise InvalidInputError("retraining: " + "; ".join(problems))


def _cancelled(cancel: asyncio.Event | None, model: str) -> None:
    if cancel is not None and cancel.is_set():
        raise RetrainingCancelledError(f"retraining of model {brief(model)} was cancelled")


def _own_data(result: TrainingResult, n_features: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The trainer's own training data, checked, or None when it used the request's."""
    if result.X is None and result.y is None:
        return None
    X = np.asarray(result.X) if result.X is not None else None
    y = np.asarray(result.y).reshape(-1) if result.y is not None else None
    if (
        X is None
        or y is None
        or X.ndim != 2
        or X.shape[1] != n_features
        or X.shape[0] != y.shape[0]
        or X.shape[0] == 0
        or X.dtype.kind not in "iuf"
        or y.dtype.kind not in "iuf"
    ):
        raise TrainerError(
            "the trainer returned its own data in an unusable shape: X "
            f"{None if X is None else list(X.shape)}, y {None if y is None else list(y.shape)}"
            f"; expected X [rows, {n_features}] and y [rows], numeric, both given"
        )
    return X.astype(np.float32), y.astype(np.float64)


def _tags(inherited: Mapping[str, str], lineage: Mapping[str, str]) -> dict[str, str]:
    """The parent's tags (as many as fit) overridden by the lineage."""
    room = MAX_TAGS - len(lineage)
    kept = [(k, v) for k, v in inherited.items() if k not in lineage][: max(room, 0)]
    return {**dict(kept), **lineage}


def _figure(value: float) -> str:
    return f"{value:.6g}"


async def retrain(
    operations: Operations,
    model: str,
    *,
    trainer: str,
    reason: str,
    trigger: str,
    window: timedelta | None = None,
    min_rows: int = DEFAULT_MIN_ROWS,
    holdout: float = DEFAULT_HOLDOUT,
    margin: float = DEFAULT_MARGIN,
    timeout: float = DEFAULT_TIMEOUT,
    cancel: asyncio.Event | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    actor: str = "retraining",
    seed: int = 0,
) -> RetrainOutcome:
    """Retrain ``model`` from its prediction log and register the candidate if it wins.

    Args:
        operations: the use-case layer (its registry; registration and staging go
            through it, so they make the checks and audit rows every door makes).
        model: the model to retrain; it must have a production version.
        trainer: ``"module:function"`` (see ``trainer.run_trainer``).
        reason: why (stored as a tag, cut to 256 characters, and in the audit trail).
        trigger: what started it, e.g. ``"drift"``, ``"schedule"``, ``"admin"``.
        window: use predictions of this recent period only; None: the newest
            ``max_rows`` whatever their age.
        min_rows: refuse with fewer usable joined rows than this.
        holdout: the newest fraction of the rows kept for validation (never trained on).
        margin: the relative gain over production the candidate needs (``validate``).
        timeout: seconds the trainer's process may take.
        cancel: set it to stop the trainer's process and end the call.
        max_rows: the most logged rows read (the newest).
        actor: who registers the candidate (audit trail).
        seed: passed to the trainer in the request.

    Returns:
        The outcome; SUCCEEDED with the new version in staging, or REJECTED.

    Raises:
        InvalidInputError: a bad argument.
        ModelNotFoundError: no such model.
        RetrainingError: the model has no production version; the candidate does
            another task than production.
        RetrainingDataError: fewer than ``min_rows`` usable rows.
        TrainerConfigError, TrainerError, TrainerTimeoutError: see ``run_trainer``.
        RetrainingCancelledError: ``cancel`` was set.
        ConversionError: the candidate does not convert or fails the parity check.
        RegistryError: the registration failed.
    """
    _check_arguments(trainer, reason, trigger, window, min_rows, holdout, margin, timeout, max_rows)
    started = time.perf_counter()
    registry = operations.registry
    production = await registry.production_version(model)
    if production is None:
        raise RetrainingError(f"model {brief(model)} has no production version to retrain")
    record, artifact = await registry.load_version_artifact(model, production.version)
    signature = Signature.from_dict(record.spec.signature)
    since = datetime.now(UTC) - window if window is not None else None
    data = await registry.training_data(model, since=since, limit=max_rows)
    rows = decode_rows(data, signature.n_features)
    n = rows.y.shape[0]
    if n < min_rows:
        raise RetrainingDataError(model, n, min_rows, rows.skipped)
    _cancelled(cancel, model)
    n_holdout = max(1, math.ceil(n * holdout))
    cut = n - n_holdout
    X_train, y_train = rows.X[:cut], rows.y[:cut]
    request = TrainingRequest(
        model=model,
        features=tuple(signature.features),
        parent_version=production.version,
        model_type=production.spec.model_type,
        hyperparameters=dict(production.spec.hyperparameters),
        task=signature.task,
        reason=reason,
        trigger=trigger,
        X=X_train,
        y=y_train,
        window_start=rows.at[0],
        window_end=rows.at[cut - 1],
        holdout_start=rows.at[cut],
        data_hash=data_hash(X_train, y_train),
        seed=seed,
    )
    notes = []
    if data.truncated:
        notes.append(f"the log held more rows than max_rows={max_rows}: the newest were used")
    if rows.skipped:
        notes.append(f"{rows.skipped} logged rows skipped (another width, or not finite)")

    training_started = time.perf_counter()
    result = await run_trainer(trainer, request, timeout=timeout, cancel=cancel)
    training_seconds = time.perf_counter() - training_started
    if result.note:
        notes.append(str(result.note)[:500])
    own = _own_data(result, signature.n_features)
    X_fit, y_fit = own if own is not None else (X_train, y_train)
    fitted_hash = data_hash(X_fit, y_fit) if own is not None else request.data_hash
    _cancelled(cancel, model)

    prepared = await asyncio.to_thread(
        prepare_estimator,
        result.estimator,
        X_fit,
        y_fit,
        feature_names=signature.features,
        target=production.spec.target,
        trained_by=trainer,
    )
    if prepared.signature.task != signature.task:
        raise RetrainingError(
            f"the trainer's candidate does {prepared.signature.task}; production "
            f"{production.version} does {signature.task}"
        )
    validation = await asyncio.to_thread(
        _validate, prepared.onnx_bytes, production, artifact, signature, rows, cut, margin
    )
    outcome = RetrainOutcome(
        model=model,
        state=RetrainingState.REJECTED,
        parent_version=production.version,
        new_version="",
        validation=validation,
        rows=int(X_fit.shape[0]),
        holdout_rows=n_holdout,
        skipped_rows=rows.skipped,
        data_hash=fitted_hash,
        window_start=request.window_start,
        window_end=request.window_end,
        training_seconds=training_seconds,
        total_seconds=0.0,
        trainer_metrics=dict(result.metrics),
        notes=tuple(notes),
    )
    if not validation.passed:
        return dataclasses.replace(outcome, total_seconds=time.perf_counter() - started)
    _cancelled(cancel, model)

    lineage = {
        "parent_version": production.version,
        "retraining_reason": reason[:MAX_LABEL_CHARS],
        "retraining_trigger": trigger,
        "trainer": trainer,
        "data_hash": fitted_hash,
        "training_window_start": request.window_start.isoformat(),
        "training_window_end": request.window_end.isoformat(),
        "holdout_rows": str(n_holdout),
        "validation_metric": validation.metric,
        "validation_margin": _figure(validation.margin),
        "candidate_metric": _figure(validation.candidate),
        "production_metric": _figure(validation.production),
    }
    spec = dataclasses.replace(
        prepared.spec,
        tags=_tags(production.spec.tags, lineage),
        validation_metrics={validation.metric: validation.candidate},
        training_start=request.window_start if own is None else None,
        training_end=request.window_end if own is None else None,
        training_duration_seconds=training_seconds,
        trained_at=datetime.now(UTC),
        description=f"Retrained from {production.version} ({trigger}): {reason}"[:MAX_TEXT_CHARS],
    )
    audit = f"retraining ({trigger}) from {production.version}: {reason}"[:MAX_TEXT_CHARS]
    registered = await operations.register(
        model, spec, prepared.onnx_bytes, profile=prepared.profile_bytes, actor=actor, reason=audit
    )
    staged = await operations.promote(
        model, registered.version, Stage.STAGING, actor=actor, reason=audit
    )
    return dataclasses.replace(
        outcome,
        state=RetrainingState.SUCCEEDED,
        new_version=staged.version,
        total_seconds=time.perf_counter() - started,
    )


def _validate(
    candidate: bytes,
    production: ModelVersion,
    artifact: bytes,
    signature: Signature,
    rows: _Rows,
    cut: int,
    margin: float,
) -> Validation:
    loaded = build_loaded(
        production.name, production.version, production.sha256, artifact, signature
    )
    return validate_candidate(
        candidate, loaded, rows.X[cut:], rows.y[cut:], task=signature.task, margin=margin
    )
