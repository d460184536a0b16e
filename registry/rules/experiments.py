"""Pure rules of experiments: the names strategies and metrics go by (defined once), the
state machine, and the checks of a spec and of an ending."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from registry.entities import ExperimentSpec, ExperimentState
from registry.errors import (
    ExperimentNotFoundError,
    ExperimentPreconditionError,
    InvalidArgumentError,
)
from registry.rules.values import (
    MAX_ID,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
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


def check_experiment_move(
    experiment_id: int, current: ExperimentState, target: ExperimentState
) -> None:
    """Raise unless ``current -> target`` is an allowed experiment move.

    Args:
        experiment_id: named in the message.
        current: the experiment's state now.
        target: the state asked for.

    Raises:
        ExperimentPreconditionError: the move is not in :data:`ALLOWED`.

    >>> check_experiment_move(1, ExperimentState.RUNNING, ExperimentState.PAUSED)
    >>> check_experiment_move(1, ExperimentState.CREATED, ExperimentState.PAUSED)
    Traceback (most recent call last):
    ...
    registry.errors.ExperimentPreconditionError: cannot move experiment 1 from created to \
paused; allowed from created: running, stopped
    >>> check_experiment_move(1, ExperimentState.COMPLETED, ExperimentState.STOPPED)
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


def experiment_columns(spec: ExperimentSpec, *, now: datetime) -> dict[str, Any]:
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


def check_id(experiment_id: int) -> None:
    """Raise unless ``experiment_id`` could name a stored experiment (1..``MAX_ID``).

    Ids arrive as uint64 over gRPC; one the database cannot even bind is simply unknown.

    Raises:
        ExperimentNotFoundError: the id is out of range.
    """
    if not 0 < experiment_id <= MAX_ID:
        raise ExperimentNotFoundError(experiment_id)
