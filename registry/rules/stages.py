"""The stage machine of a model version: which moves are allowed, as a pure table."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from registry.entities import Stage
from registry.errors import InvalidStageTransitionError

_D, _S, _P, _A = Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED

#: The only moves the registry makes on request. Order is the order shown in messages.
ALLOWED: Mapping[Stage, tuple[Stage, ...]] = MappingProxyType(
    {
        _D: (_S, _A),
        _S: (_P, _D, _A),
        _P: (_S, _A),
        _A: (_D,),
    }
)

#: Moves that are allowed but need ``force=True`` because they take a model out of service.
NEEDS_FORCE: frozenset[tuple[Stage, Stage]] = frozenset({(_P, _A)})


def is_allowed(current: Stage, target: Stage) -> bool:
    """Tell whether ``current -> target`` is in the table (ignoring the force rule).

    >>> is_allowed(Stage.DEVELOPMENT, Stage.STAGING)
    True
    >>> is_allowed(Stage.DEVELOPMENT, Stage.PRODUCTION)
    False
    >>> is_allowed(Stage.STAGING, Stage.STAGING)
    False
    """
    return target in ALLOWED[current]


def check_stage_move(
    current: Stage, target: Stage, *, force: bool = False, subject: str = "version"
) -> None:
    """Raise unless ``current -> target`` is allowed.

    Args:
        current: the version's stage now.
        target: the stage asked for.
        force: allow the moves in ``NEEDS_FORCE``.
        subject: how to name the version in the message, e.g. ``"model 'm' version '1.0.0'"``.

    Raises:
        InvalidStageTransitionError: the move is not in the table, or needs ``force``.

    >>> check_stage_move(Stage.STAGING, Stage.PRODUCTION)
    >>> check_stage_move(Stage.DEVELOPMENT, Stage.PRODUCTION)
    Traceback (most recent call last):
    ...
    registry.errors.InvalidStageTransitionError: cannot move version from development to \
production; allowed from development: staging, archived
    >>> check_stage_move(Stage.PRODUCTION, Stage.ARCHIVED)
    Traceback (most recent call last):
    ...
    registry.errors.InvalidStageTransitionError: moving version from production to archived \
leaves the model without a production version; pass force=True to do it anyway
    >>> check_stage_move(Stage.PRODUCTION, Stage.ARCHIVED, force=True)
    """
    if not is_allowed(current, target):
        targets = ", ".join(s.value for s in ALLOWED[current])
        raise InvalidStageTransitionError(
            f"cannot move {subject} from {current.value} to {target.value}; "
            f"allowed from {current.value}: {targets}"
        )
    if (current, target) in NEEDS_FORCE and not force:
        raise InvalidStageTransitionError(
            f"moving {subject} from {current.value} to {target.value} leaves the model "
            "without a production version; pass force=True to do it anyway"
        )
