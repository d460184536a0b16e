"""The running experiments this process could not route or monitor, and why.

One bad experiment must never stop the others, nor production: the pool and the monitor
skip an experiment that fails, record it here, and go on. GetStatus lists the records
and the log says so once per distinct error, not on every pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import GatewayError
from registry.errors import RegistryError

log = logging.getLogger(__name__)

ROUTING = "routing"
MONITOR = "monitor"


@dataclass(frozen=True, slots=True)
class ExperimentFailure:
    """Why one experiment is skipped by one part of this process."""

    experiment_id: int
    model: str
    where: str  # ROUTING (Predict serves production instead) or MONITOR (no decisions)
    error: str
    at: datetime


class ExperimentFailures:
    """Current failures by (experiment id, where).

    >>> book = ExperimentFailures()
    >>> book.record(7, "alpha", MONITOR, ValueError("bad sums"))
    >>> [(f.experiment_id, f.where, f.error) for f in book.all()]
    [(7, 'monitor', 'ValueError: bad sums')]
    >>> book.clear(7, MONITOR); book.all()
    []
    """

    def __init__(self) -> None:
        self._failures: dict[tuple[int, str], ExperimentFailure] = {}

    def record(self, experiment_id: int, model: str, where: str, exc: BaseException) -> None:
        """Note that ``where`` skips the experiment because of ``exc``; log it when new."""
        error = f"{type(exc).__name__}: {exc}"
        key = (experiment_id, where)
        previous = self._failures.get(key)
        if previous is None or previous.error != error:
            action = "serves production instead" if where == ROUTING else "makes no decisions"
            log.error(
                "experiment %s on model %r is skipped (%s %s): %s",
                experiment_id,
                model,
                where,
                action,
                error,
                exc_info=exc if status_unknown(exc) else None,
            )
        self._failures[key] = ExperimentFailure(
            experiment_id, model, where, error, previous.at if previous else datetime.now(UTC)
        )

    def clear(self, experiment_id: int, where: str) -> None:
        """The experiment works again for ``where``."""
        if self._failures.pop((experiment_id, where), None) is not None:
            log.info("experiment %s: %s works again", experiment_id, where)

    def keep_only(self, experiment_ids: set[int], where: str) -> None:
        """Forget ``where``'s failures of experiments no longer running."""
        for key in [k for k in self._failures if k[1] == where and k[0] not in experiment_ids]:
            del self._failures[key]

    def all(self) -> list[ExperimentFailure]:
        """Every current failure, by experiment id."""
        return sorted(self._failures.values(), key=lambda f: (f.experiment_id, f.where))


def status_unknown(exc: BaseException) -> bool:
    """True for exceptions that are not galgate or registry errors (log their traceback)."""
    return not isinstance(exc, GatewayError | RegistryError)
