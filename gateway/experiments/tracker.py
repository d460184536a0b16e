"""Per-process sequential tests of running experiments, looked at by monitor and admin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.errors import ExperimentStatisticsError
from gateway.experiments.results import Results, compute, moments_of
from gateway.stats import Moments, SequentialResult, SequentialTest, metric_named
from registry.entities import ArmAggregate, Experiment
from registry.errors import StoredDataError
from registry.repository import Registry


@dataclass(frozen=True, slots=True)
class Arms:
    """An experiment's per-arm database sums and the moments of its metric."""

    aggregates: dict[str, ArmAggregate]
    control: Moments
    treatment: Moments


async def read_arms(registry: Registry, experiment_id: int) -> Arms:
    """Read both arms' sums in one snapshot and turn them into moments.

    Raises:
        ExperimentStatisticsError: the stored outcomes give no valid moments.
    """
    try:
        aggregates = await registry.arm_aggregates(experiment_id)
        control = moments_of(aggregates.get("control"))
        treatment = moments_of(aggregates.get("treatment"))
    except ExperimentStatisticsError as exc:
        raise ExperimentStatisticsError(exc.reason, experiment_id) from exc
    except StoredDataError as exc:
        raise ExperimentStatisticsError(str(exc), experiment_id) from exc
    return Arms(aggregates, control, treatment)


@dataclass(frozen=True, slots=True)
class Look:
    """One look at an experiment: the reported results and the max-loss verdict."""

    results: Results
    loss_exceeded: bool
    loss: SequentialResult | None


class ExperimentTracker:
    """Keeps each running experiment's sequential tests between looks.

    The always-valid p-value is a running minimum over looks, so the tests live here,
    not in a request. τ² is fixed once per experiment in the registry (first writer
    wins), so every gateway process tests with the same mixing variance. After a
    restart the running minimum starts again from the current look, which can only
    make the test more conservative.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._tests: dict[int, tuple[SequentialTest, SequentialTest | None]] = {}

    def forget(self, experiment_id: int) -> None:
        """Drop an ended experiment's state."""
        self._tests.pop(experiment_id, None)

    async def look(self, experiment: Experiment) -> Look:
        """Read the arms' aggregates, update the tests, and compute the results.

        Raises:
            ExperimentStatisticsError: the stored outcomes give no valid statistics.
        """
        arms = await read_arms(self._registry, experiment.id)
        try:
            return await self._look(experiment, arms)
        except (ValueError, ArithmeticError) as exc:
            raise ExperimentStatisticsError(f"{type(exc).__name__}: {exc}", experiment.id) from exc

    async def _look(self, experiment: Experiment, arms: Arms) -> Look:
        spec = experiment.spec
        aggregates, control, treatment = arms.aggregates, arms.control, arms.treatment
        main, loss = self._tests_for(experiment)
        result = main.update(control, treatment)
        if experiment.tau2 is None and main.tau2 is not None:
            stored = await self._registry.set_experiment_tau2(experiment.id, main.tau2)
            if stored.tau2 is not None and not math.isclose(stored.tau2, main.tau2):
                self._tests.pop(experiment.id, None)  # another process fixed τ² first
                main, loss = self._tests_for(stored)
                result = main.update(control, treatment)
        loss_result = loss.update(control, treatment) if loss is not None else None
        direction = metric_named(spec.metric).direction
        exceeded = bool(
            loss_result is not None
            and loss_result.decisive
            and (loss_result.diff + direction * spec.max_loss) * direction < 0
        )
        return Look(
            results=compute(experiment, aggregates, result),
            loss_exceeded=exceeded,
            loss=loss_result,
        )

    def _tests_for(self, experiment: Experiment) -> tuple[SequentialTest, SequentialTest | None]:
        tests = self._tests.get(experiment.id)
        if tests is None:
            spec = experiment.spec
            alpha = 1.0 - spec.confidence
            tau = math.sqrt(experiment.tau2) if experiment.tau2 else None
            main = SequentialTest(alpha=alpha, tau=tau)
            loss = None
            if spec.max_loss:
                # H0: treatment - control equals a loss of exactly max_loss; deciding with
                # the estimate beyond it means the loss is significantly larger.
                theta0 = -metric_named(spec.metric).direction * spec.max_loss
                loss = SequentialTest(alpha=alpha, tau=tau, theta0=theta0)
            tests = self._tests[experiment.id] = (main, loss)
        return tests
