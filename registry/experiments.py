"""Experiments inside a write or read transaction: validation, state machine, storage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import violated_constraint
from registry.entities import (
    ExperimentRoute,
    ExperimentSpec,
    ExperimentState,
    ServedVersion,
    Stage,
)
from registry.errors import (
    ConflictError,
    ExperimentConflictError,
    ExperimentNotFoundError,
    ExperimentPreconditionError,
    InvalidArgumentError,
)
from registry.events import EXPERIMENT_CHANGED, append_event
from registry.lookups import model_row, version_row
from registry.schema import (
    MAX_ID,
    ExperimentRow,
    ExperimentTransitionRow,
    ModelRow,
    ModelVersionRow,
    utcnow,
)
from registry.values import (
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    check_audit,
    check_text,
    is_finite_number,
    json_document,
)

#: Allocation strategies the gateway knows (gateway/routing/factory.py); the one
#: definition of these names.
STRATEGIES: tuple[str, ...] = ("random", "weighted", "epsilon_greedy", "thompson_sampling")
#: Primary metrics the gateway knows (gateway/stats/metrics.py), and which of them are
#: errors (lower is better). The one definition of these names: the gateway, the CLI and
#: the registry's checks all read them here.
METRICS: tuple[str, ...] = ("squared_error", "absolute_error", "accuracy", "reward")
LOWER_IS_BETTER: frozenset[str] = frozenset({"squared_error", "absolute_error"})
ARMS: tuple[str, ...] = ("control", "treatment")
WINNERS: tuple[str, ...] = ("", *ARMS)

_C, _R, _P = ExperimentState.CREATED, ExperimentState.RUNNING, ExperimentState.PAUSED
_DONE, _STOP = ExperimentState.COMPLETED, ExperimentState.STOPPED

#: The only moves allowed; completed and stopped are final. Order is the order in messages.
ALLOWED: Mapping[ExperimentState, tuple[ExperimentState, ...]] = MappingProxyType(
    {
        _C: (_R, _STOP),
        _R: (_P, _DONE, _STOP),
        _P: (_R, _DONE, _STOP),
        _DONE: (),
        _STOP: (),
    }
)
#: States that count towards the one-active-experiment-per-model rule.
ACTIVE: frozenset[ExperimentState] = frozenset({_R, _P})
FINAL: frozenset[ExperimentState] = frozenset({_DONE, _STOP})

_ACTIVE_INDEX = "uq_experiments_one_active"
# SQLite names columns, not indexes, in its messages.
_SQLITE_ACTIVE = "UNIQUE constraint failed: experiments.model_id"


def check_transition(experiment_id: int, current: ExperimentState, target: ExperimentState) -> None:
    """Raise unless ``current -> target`` is an allowed experiment move.

    Args:
        experiment_id: named in the message.
        current: the experiment's state now.
        target: the state asked for.

    Raises:
        ExperimentPreconditionError: the move is not in :data:`ALLOWED`.

    >>> check_transition(1, ExperimentState.RUNNING, ExperimentState.PAUSED)
    >>> check_transition(1, ExperimentState.CREATED, ExperimentState.PAUSED)
    Traceback (most recent call last):
    ...
    registry.errors.ExperimentPreconditionError: cannot move experiment 1 from created to \
paused; allowed from created: running, stopped
    >>> check_transition(1, ExperimentState.COMPLETED, ExperimentState.STOPPED)
    Traceback (most recent call last):
    ...
    registry.errors.ExperimentPreconditionError: cannot move experiment 1 from completed to \
stopped; completed is final
    """
    targets = ALLOWED[current]
    if target in targets:
        return
    allowed = (
        f"allowed from {current.value}: {', '.join(t.value for t in targets)}"
        if targets
        else f"{current.value} is final"
    )
    raise ExperimentPreconditionError(
        f"cannot move experiment {experiment_id} from {current.value} to {target.value}; {allowed}"
    )


def parse_state(value: ExperimentState | str) -> ExperimentState:
    """Return ``value`` as an ExperimentState.

    Raises:
        InvalidArgumentError: not one of the state names.
    """
    try:
        return ExperimentState(value)
    except ValueError:
        names = ", ".join(s.value for s in ExperimentState)
        raise InvalidArgumentError(
            f"unknown experiment state {value!r}; expected one of {names}"
        ) from None


# -- validation -----------------------------------------------------------------------


def _number(field: str, value: Any, rule: str) -> float:
    if not is_finite_number(value):
        raise InvalidArgumentError(
            f"ExperimentSpec.{field} must be a finite number with {rule}, got {value!r}"
        )
    return float(value)


def _in_range(field: str, value: Any, rule: str, ok: bool) -> None:
    if not ok:
        raise InvalidArgumentError(f"ExperimentSpec.{field} must satisfy {rule}, got {value!r}")


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidArgumentError(
            f"ExperimentSpec.{field} {value!r} is not one of {', '.join(allowed)}"
        )
    return str(value)


def spec_columns(spec: ExperimentSpec, *, now: datetime) -> dict[str, Any]:
    """Validate an ExperimentSpec's values and return its ``experiments`` column values.

    The model and version names are not looked up here (see :func:`create`).

    Args:
        spec: the caller's configuration.
        now: the current time (tz-aware), to check ``end_time`` is in the future.

    Returns:
        Column name -> value for every spec field except the model and versions.

    Raises:
        InvalidArgumentError: a value outside its allowed set or range; the message names
            the field and what is allowed.
    """
    if not isinstance(spec, ExperimentSpec):
        raise InvalidArgumentError(f"spec must be an ExperimentSpec, got {type(spec).__name__}")
    for field in ("model", "control_version", "treatment_version"):
        value = getattr(spec, field)
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(f"ExperimentSpec.{field} must be a non-empty string")
    strategy = _choice("strategy", spec.strategy, STRATEGIES)
    metric = _choice("metric", spec.metric, METRICS)
    split = _number("split", spec.split, "0 < split < 1")
    _in_range("split", split, "0 < split < 1", 0.0 < split < 1.0)
    epsilon = _number("epsilon", spec.epsilon, "0 <= epsilon <= 1")
    _in_range("epsilon", epsilon, "0 <= epsilon <= 1", 0.0 <= epsilon <= 1.0)
    confidence = _number("confidence", spec.confidence, "0 < confidence < 1")
    _in_range("confidence", confidence, "0 < confidence < 1", 0.0 < confidence < 1.0)
    mde = _number("min_detectable_effect", spec.min_detectable_effect, ">= 0")
    _in_range("min_detectable_effect", mde, "min_detectable_effect >= 0", mde >= 0.0)
    min_samples = spec.min_samples
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise InvalidArgumentError(
            f"ExperimentSpec.min_samples must be an integer >= 1, got {min_samples!r}"
        )
    max_loss = spec.max_loss
    if max_loss is not None:
        max_loss = _number("max_loss", max_loss, "max_loss > 0 (or None for no limit)")
        _in_range("max_loss", max_loss, "max_loss > 0 (or None for no limit)", max_loss > 0.0)
    end_time = spec.end_time
    if end_time is not None:
        if not isinstance(end_time, datetime) or end_time.utcoffset() is None:
            raise InvalidArgumentError(
                "ExperimentSpec.end_time must be a timezone-aware datetime in the future "
                f"(or None), got {end_time!r}"
            )
        if end_time <= now:
            raise InvalidArgumentError(
                f"ExperimentSpec.end_time must be in the future, got {end_time.isoformat()} "
                f"(now {now.isoformat()})"
            )
    if not isinstance(spec.auto_promote, bool):
        raise InvalidArgumentError(
            f"ExperimentSpec.auto_promote must be True or False, got {spec.auto_promote!r}"
        )
    check_text(spec.name, "ExperimentSpec.name", MAX_LABEL_CHARS)
    check_text(spec.description, "ExperimentSpec.description", MAX_TEXT_CHARS)
    return {
        "strategy": strategy,
        "metric": metric,
        "split": split,
        "epsilon": epsilon,
        "confidence": confidence,
        "min_detectable_effect": mde,
        "min_samples": int(min_samples),
        "max_loss": max_loss,
        "end_time": end_time,
        "auto_promote": spec.auto_promote,
        "name": spec.name,
        "description": spec.description,
    }


def check_ending(
    target: ExperimentState, winner: str, final_results: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Validate the result fields of a transition and return ``final_results`` as JSON.

    Raises:
        InvalidArgumentError: unknown winner, non-JSON results, or results given for a move
            that does not end the experiment.
    """
    if winner not in WINNERS:
        raise InvalidArgumentError(
            f"winner {winner!r} is not one of 'control', 'treatment' or '' (none)"
        )
    if target not in FINAL and (winner or final_results):
        raise InvalidArgumentError(
            f"winner and final_results are recorded only when an experiment ends "
            f"(completed or stopped), not on a move to {target.value}"
        )
    if final_results is None:
        return {}
    if not isinstance(final_results, Mapping):
        raise InvalidArgumentError(
            f"final_results must be a mapping, got {type(final_results).__name__}"
        )
    return json_document(dict(final_results), "final_results")


# -- lookups --------------------------------------------------------------------------


async def _model(session: AsyncSession, name: str) -> ModelRow:
    """The model row, locked until the transaction ends (PostgreSQL; SQLite's writer is
    already exclusive). Every experiment change locks its model first: one lock order."""
    return await model_row(session, name, lock=True)


def check_id(experiment_id: int) -> None:
    """Raise unless ``experiment_id`` could name a stored experiment (1..``MAX_ID``).

    Ids arrive as uint64 over gRPC; one the database cannot even bind is simply unknown.

    Raises:
        ExperimentNotFoundError: the id is out of range.
    """
    if not 0 < experiment_id <= MAX_ID:
        raise ExperimentNotFoundError(experiment_id)


async def get(session: AsyncSession, experiment_id: int, *, lock: bool = False) -> ExperimentRow:
    """Return the experiment row (locked FOR UPDATE when ``lock``).

    Raises:
        ExperimentNotFoundError: no experiment has that id.
    """
    check_id(experiment_id)
    stmt = select(ExperimentRow).where(ExperimentRow.id == experiment_id)
    if lock:
        stmt = stmt.with_for_update(of=ExperimentRow).execution_options(populate_existing=True)
    row = await session.scalar(stmt)
    if row is None:
        raise ExperimentNotFoundError(experiment_id)
    return row


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
    columns = spec_columns(spec, now=at)
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
    check_transition(experiment_id, current, to)
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


# -- reads ----------------------------------------------------------------------------


async def list_rows(
    session: AsyncSession,
    *,
    model: str | None,
    states: Iterable[ExperimentState | str] | None,
) -> list[ExperimentRow]:
    """Return experiments ordered by id, optionally of one model and in some states.

    Raises:
        ModelNotFoundError: ``model`` is not registered.
        InvalidArgumentError: an unknown state name.
    """
    stmt = select(ExperimentRow).order_by(ExperimentRow.id)
    if states is not None:
        if isinstance(states, str):
            states = [states]
        wanted = sorted({parse_state(s).value for s in states})
        stmt = stmt.where(ExperimentRow.state.in_(wanted))
    if model is not None:
        stmt = stmt.where(ExperimentRow.model_id == (await model_row(session, model)).id)
    return list(await session.scalars(stmt))


async def history(session: AsyncSession, experiment_id: int) -> list[ExperimentTransitionRow]:
    """Return an experiment's audit rows, oldest first.

    Raises:
        ExperimentNotFoundError: unknown id.
    """
    await get(session, experiment_id)
    rows = await session.scalars(
        select(ExperimentTransitionRow)
        .where(ExperimentTransitionRow.experiment_id == experiment_id)
        .order_by(ExperimentTransitionRow.id)
    )
    return list(rows)


async def running_routes(session: AsyncSession) -> dict[str, ExperimentRoute]:
    """Return the routing configuration of every running experiment, by model name."""
    rows = await session.scalars(
        select(ExperimentRow).where(ExperimentRow.state == _R.value).order_by(ExperimentRow.id)
    )
    routes: dict[str, ExperimentRoute] = {}
    for row in rows:
        name = row.model.name
        routes[name] = ExperimentRoute(
            id=row.id,
            model=name,
            control=ServedVersion(name, row.control.version, row.control.sha256),
            treatment=ServedVersion(name, row.treatment.version, row.treatment.sha256),
            strategy=row.strategy,
            split=row.split,
            epsilon=row.epsilon,
            metric=row.metric,
            min_samples=row.min_samples,
        )
    return dict(sorted(routes.items()))
