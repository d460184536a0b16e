"""Experiments inside a write or read transaction: storage, the one-active rule, audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import violated_constraint
from registry.entities import (
    ExperimentSpec,
    ExperimentState,
    Stage,
)
from registry.errors import (
    ConflictError,
    ExperimentConflictError,
    ExperimentNotFoundError,
    ExperimentPreconditionError,
    InvalidArgumentError,
)
from registry.rules.experiments import (
    ACTIVE,
    FINAL,
    check_ending,
    check_experiment_move,
    check_id,
    experiment_columns,
)
from registry.rules.values import check_audit, is_finite_number
from registry.schema import (
    ExperimentRow,
    ExperimentTransitionRow,
    ModelRow,
    ModelVersionRow,
    utcnow,
)
from registry.sql.events import EXPERIMENT_CHANGED, append_event
from registry.sql.experiment_reads import get
from registry.sql.lookups import model_row, version_row

_C, _R = ExperimentState.CREATED, ExperimentState.RUNNING
_ACTIVE_INDEX = "uq_experiments_one_active"
# SQLite names columns, not indexes, in its messages.
_SQLITE_ACTIVE = "UNIQUE constraint failed: experiments.model_id"

# -- lookups --------------------------------------------------------------------------


async def _model(session: AsyncSession, name: str) -> ModelRow:
    """The model row, locked until the transaction ends (PostgreSQL; SQLite's writer is
    already exclusive). Every experiment change locks its model first: one lock order."""
    return await model_row(session, name, lock=True)


async def _active_id(session: AsyncSession, model_id: int) -> int | None:
    return await session.scalar(
        select(ExperimentRow.id).where(
            ExperimentRow.model_id == model_id,
            ExperimentRow.state.in_([s.value for s in ACTIVE]),
        )
    )


def _check_usable(name: str, control: ModelVersionRow, treatment: ModelVersionRow) -> None:
    if control.id == treatment.id:
        raise ExperimentPreconditionError(
            f"an experiment on model {name!r} needs two different versions; control and "
            f"treatment are both {control.version!r}"
        )
    for arm, row in (("control", control), ("treatment", treatment)):
        if row.stage == Stage.ARCHIVED.value:
            raise ExperimentPreconditionError(
                f"{arm} version {row.version!r} of model {name!r} is archived; an experiment "
                "needs non-archived versions (restore it to development first)"
            )
    if list(control.features) != list(treatment.features):
        c, t = list(control.features), list(treatment.features)
        only_c = [f for f in c if f not in t]
        only_t = [f for f in t if f not in c]
        detail = (
            f"control only: {only_c}, treatment only: {only_t}"
            if only_c or only_t
            else f"same features in a different order: control {c}, treatment {t}"
        )
        raise ExperimentPreconditionError(
            f"versions {control.version!r} and {treatment.version!r} of model {name!r} take "
            f"different features ({detail}); an experiment needs identical features"
        )


def check_auto_promotable(name: str, auto_promote: bool, treatment: ModelVersionRow) -> None:
    """Auto-promotion follows the stage machine: it moves a staging version to production.

    Raises:
        ExperimentPreconditionError: ``auto_promote`` with a treatment not in staging.
    """
    if auto_promote and treatment.stage != Stage.STAGING.value:
        raise ExperimentPreconditionError(
            f"auto_promote needs the treatment in staging (auto-promotion moves staging to "
            f"production); version {treatment.version!r} of model {name!r} is in "
            f"{treatment.stage}: promote it to staging first, or create the experiment "
            "without auto_promote"
        )


async def _check_no_active(session: AsyncSession, model: ModelRow) -> None:
    active = await _active_id(session, model.id)
    if active is not None:
        raise ExperimentConflictError(model.name, active)


async def _apply(session: AsyncSession, model: ModelRow, change: Callable[[], None]) -> None:
    """Make ``change`` to the session and flush it inside a savepoint, so that when the
    one-active index refuses it the transaction stays usable to name the experiment that
    holds the model. (``begin_nested`` flushes pending changes before its SAVEPOINT, so
    the change must be made inside it.)"""
    model_id, model_name = model.id, model.name  # the rollback expires ORM state
    try:
        async with session.begin_nested():
            change()
            await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) in (_ACTIVE_INDEX, _SQLITE_ACTIVE):
            active = await _active_id(session, model_id)
            raise ExperimentConflictError(model_name, active) from exc
        raise ConflictError(
            f"the experiment change on model {model_name!r} conflicts with stored data: {exc.orig}"
        ) from exc


async def _record(
    session: AsyncSession,
    row: ExperimentRow,
    model: str,
    from_state: str | None,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Append the audit row and the event of a change (call last in the transaction)."""
    check_audit(actor, reason)
    session.add(
        ExperimentTransitionRow(
            experiment_id=row.id,
            from_state=from_state,
            to_state=row.state,
            actor=actor,
            reason=reason,
            at=at,
        )
    )
    await append_event(
        session,
        EXPERIMENT_CHANGED,
        model,
        "",
        {"id": row.id, "from": from_state, "to": row.state},
        at=at,
    )


# -- writes ---------------------------------------------------------------------------


async def create(
    session: AsyncSession, spec: ExperimentSpec, *, actor: str, reason: str, start: bool
) -> ExperimentRow:
    """Validate and insert an experiment, with its audit row and event.

    Args:
        session: a session inside a write transaction.
        spec: the configuration.
        actor: who (audit trail).
        reason: why (audit trail).
        start: create it running instead of created.

    Returns:
        The flushed row, with ``model``, ``control`` and ``treatment`` loaded.

    Raises:
        InvalidArgumentError: a spec value out of range.
        ModelNotFoundError, VersionNotFoundError: unknown model or version.
        ExperimentPreconditionError: same version twice, an archived version, different
            features, or ``auto_promote`` with a treatment that is not in staging.
        ExperimentConflictError: ``start`` and the model already has an active experiment.
    """
    at = utcnow()
    columns = experiment_columns(spec, now=at)
    model = await _model(session, spec.model)
    control = await version_row(session, model, spec.control_version)
    treatment = await version_row(session, model, spec.treatment_version)
    _check_usable(model.name, control, treatment)
    check_auto_promotable(model.name, spec.auto_promote, treatment)
    state = _R if start else _C
    if start:
        await _check_no_active(session, model)
    row = ExperimentRow(
        model=model,
        control=control,
        treatment=treatment,
        state=state.value,
        created_at=at,
        started_at=at if start else None,
        final_results={},
        **columns,
    )
    await _apply(session, model, lambda: session.add(row))
    await _record(session, row, model.name, None, actor=actor, reason=reason, at=at)
    return row


async def transition(
    session: AsyncSession,
    experiment_id: int,
    to: ExperimentState,
    *,
    actor: str,
    reason: str,
    winner: str,
    final_results: Mapping[str, Any] | None,
) -> ExperimentRow:
    """Move an experiment to ``to``, checked against its state read under lock.

    Args:
        session: a session inside a write transaction.
        experiment_id: the experiment.
        to: the target state.
        actor: who (audit trail).
        reason: why (audit trail; also the end reason when the move ends it).
        winner: "control", "treatment" or "" — stored when the move ends it.
        final_results: JSON results — stored when the move ends it.

    Returns:
        The updated row.

    Raises:
        ExperimentNotFoundError: unknown id.
        InvalidArgumentError: bad winner or results, or results on a non-ending move.
        ExperimentPreconditionError: the move is not allowed from the current state (e.g. a
            concurrent writer completed it first), or a version became archived.
        ExperimentConflictError: starting it while another experiment of the model is
            active.
    """
    check_id(experiment_id)
    results = check_ending(to, winner, final_results)
    model_name = await session.scalar(
        select(ModelRow.name)
        .join(ExperimentRow, ExperimentRow.model_id == ModelRow.id)
        .where(ExperimentRow.id == experiment_id)
    )
    if model_name is None:
        raise ExperimentNotFoundError(experiment_id)
    model = await _model(session, model_name)
    row = await get(session, experiment_id, lock=True)
    current = ExperimentState(row.state)
    check_experiment_move(experiment_id, current, to)
    at = utcnow()
    if to is _R:
        _check_usable(model.name, row.control, row.treatment)
        if current not in ACTIVE:
            await _check_no_active(session, model)

    def change() -> None:
        if to is _R and row.started_at is None:
            row.started_at = at
        if to in FINAL:
            row.ended_at = at
            row.end_reason = reason
            row.winner = winner
            row.final_results = results
        row.state = to.value

    await _apply(session, model, change)
    await _record(session, row, model.name, current.value, actor=actor, reason=reason, at=at)
    return row


async def set_tau2(session: AsyncSession, experiment_id: int, tau2: float) -> ExperimentRow:
    """Store the sequential test's mixing variance unless one is stored already.

    Raises:
        InvalidArgumentError: ``tau2`` not a finite number > 0.
        ExperimentNotFoundError: unknown id.
    """
    if not is_finite_number(tau2) or tau2 <= 0.0:
        raise InvalidArgumentError(f"tau2 must be a finite number > 0, got {tau2!r}")
    check_id(experiment_id)
    # Conditional update: the row lock it takes makes the first committed writer win.
    await session.execute(
        update(ExperimentRow)
        .where(ExperimentRow.id == experiment_id, ExperimentRow.tau2.is_(None))
        .values(tau2=float(tau2))
        .execution_options(synchronize_session=False)
    )
    return await get(session, experiment_id)
