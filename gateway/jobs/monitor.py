"""The experiment monitor: ends experiments by time, by loss or by a decisive test."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.errors import GatewayError
from gateway.experiments.failures import MONITOR, ExperimentFailures
from gateway.experiments.tracker import Look
from gateway.stats.srm import sample_ratio
from registry.entities import AlertSeverity, Experiment, ExperimentState, Stage
from registry.errors import RegistryError, UnavailableError

if TYPE_CHECKING:
    from gateway.operations import Operations

log = logging.getLogger(__name__)
ACTOR = "galgate-monitor"
# Strategies whose split is planned and fixed: a sample-ratio check applies.
FIXED_SPLIT = frozenset({"random", "weighted"})


class Monitor:
    """Looks at every running experiment each ``interval`` seconds.

    Decisions, in order: the end time has passed -> completed (with a winner if the
    sequential test has one); the treatment is significantly worse than control by more
    than ``max_loss`` (sequential test against that loss) -> stopped; the sequential test
    is decisive and both arms have ``min_samples`` outcomes -> completed with the winner,
    and with ``auto_promote`` a winning treatment is promoted to production. Ending is a
    conditional state change in the registry, so when several gateway processes monitor
    the same experiment exactly one ends it (and promotes).
    """

    def __init__(
        self,
        operations: Operations,
        *,
        failures: ExperimentFailures | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ops = operations
        self._failures = failures or ExperimentFailures()
        self._clock = clock

    async def run(self, interval: float) -> None:
        """Tick forever (cancel to stop)."""
        failing = ""  # the last failure logged; the same one is not logged every tick
        while True:
            try:
                await self.tick()
                failing = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if f"{type(exc).__name__}: {exc}" != failing:
                    failing = f"{type(exc).__name__}: {exc}"
                    log.error(
                        "experiment monitor pass failed; retrying every %.1f s: %s",
                        interval,
                        failing,
                        exc_info=None if isinstance(exc, RegistryError) else exc,
                    )
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        """One pass over the running experiments; one that fails is recorded and skipped."""
        running = await self._ops.list_experiments(state=ExperimentState.RUNNING)
        for experiment in running:
            try:
                look = await self._ops.tracker.look(experiment)
                await self._check_split(experiment, look)
                await self._decide(experiment, look)
            except (asyncio.CancelledError, UnavailableError):
                raise  # the registry is down: the whole pass is retried next interval
            except Exception as exc:
                self._failures.record(experiment.id, experiment.spec.model, MONITOR, exc)
            else:
                self._failures.clear(experiment.id, MONITOR)
        self._failures.keep_only({e.id for e in running}, MONITOR)

    async def _check_split(self, experiment: Experiment, look: Look) -> None:
        """Alert on a sample-ratio mismatch: arms that do not hold the planned split (a
        broken router biases every number the experiment reports). Only strategies with
        a fixed split are checked; bandits move traffic on purpose."""
        spec = experiment.spec
        if spec.strategy not in FIXED_SPLIT:
            return
        results = look.results
        check = sample_ratio(results.control.predictions, results.treatment.predictions, spec.split)
        if check is None or not check.mismatch:
            return
        await self._ops.raise_alert(
            f"srm:{experiment.id}",
            "srm",
            AlertSeverity.CRITICAL,
            f"experiment {experiment.id} ({spec.model}): sample-ratio mismatch — treatment "
            f"holds {check.observed_treatment_share:.1%} of {check.control + check.treatment} "
            f"predictions, {spec.split:.1%} planned (chi-square p={check.p_value:.2g}); its "
            "results are not trustworthy until the routing is fixed",
            model=spec.model,
            details={
                "experiment_id": experiment.id,
                "control": check.control,
                "treatment": check.treatment,
                "planned_treatment_share": spec.split,
                "chi2": check.chi2,
                "p_value": check.p_value,
            },
        )

    async def _decide(self, experiment: Experiment, look: Look) -> None:
        spec, results = experiment.spec, look.results
        if spec.end_time is not None and self._clock() >= spec.end_time:
            await self._end(experiment, look, ExperimentState.COMPLETED, "end time reached")
        elif look.loss_exceeded:
            reason = (
                f"stopped early: treatment {spec.treatment_version} is worse than control by "
                f"more than max_loss={spec.max_loss} on {spec.metric} (one-sided sequential "
                f"test; difference {results.difference:.4g}, always-valid interval "
                f"[{results.cs_low:.4g}, {results.cs_high:.4g}])"
            )
            await self._end(experiment, look, ExperimentState.STOPPED, reason)
        elif results.winner:
            reason = (
                f"sequential test decisive: {results.winner} wins on {spec.metric} "
                f"(difference {results.difference:.4g}, always-valid "
                f"p={results.sequential_p_value:.4g})"
            )
            await self._end(experiment, look, ExperimentState.COMPLETED, reason)

    async def _end(
        self, experiment: Experiment, look: Look, state: ExperimentState, reason: str
    ) -> None:
        winner = look.results.winner if state is ExperimentState.COMPLETED else "control"
        promote = experiment.spec.auto_promote and winner == "treatment"
        if promote and (refused := await self._promotion_refused(experiment)):
            promote = False
            reason += f"; not auto-promoted: {refused}"
        try:
            await self._ops.end_experiment(
                experiment, state, results=look.results, winner=winner, actor=ACTOR, reason=reason
            )
        except UnavailableError:
            raise
        except RegistryError as exc:
            log.info("experiment %s already ended elsewhere: %s", experiment.id, exc)
            return
        log.info("experiment %s %s: %s", experiment.id, state.value, reason)
        if promote:
            await self._promote(experiment, reason)

    async def _promotion_refused(self, experiment: Experiment) -> str:
        """Why the winning treatment may not be auto-promoted now ("" when it may).

        Auto-promotion obeys the stage machine: only a staging version moves to
        production (checked at creation, and again here: the version may have moved).
        """
        spec = experiment.spec
        version = await self._ops.get_version(spec.model, spec.treatment_version)
        if version.stage is Stage.STAGING:
            return ""
        return (
            f"treatment {spec.treatment_version} is in {version.stage.value}, and "
            "auto-promotion moves only a staging version to production"
        )

    async def _promote(self, experiment: Experiment, reason: str) -> None:
        spec = experiment.spec
        why = f"auto-promoted by experiment {experiment.id}"
        if spec.name:
            why += f" ({spec.name})"
        why += f": {reason}"
        try:
            await self._ops.promote(
                spec.model, spec.treatment_version, Stage.PRODUCTION, actor=ACTOR, reason=why
            )
        except (RegistryError, GatewayError):
            log.exception(
                "experiment %s: auto-promotion of %s failed", experiment.id, spec.treatment_version
            )
