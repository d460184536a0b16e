"""The allocation strategies of running experiments, and what they have learned.

A bandit strategy learns from every outcome recorded in this process. Its state must
outlive snapshots (a swap must not make it forget), and a process that starts, or an
experiment that resumes, rebuilds it from the outcomes stored so far, so learning
survives restarts. The pool asks for an experiment's strategy when it builds a snapshot;
the outcome path feeds each recorded outcome back.
"""

from __future__ import annotations

from gateway.experiments.tracker import read_arms
from gateway.routing import CONTROL, TREATMENT, Strategy, StrategyState, strategy_from_state
from gateway.stats import Metric, Moments, metric_named
from registry.entities import ExperimentRoute
from registry.store.registry import Registry


class Learners:
    """Allocation strategy and metric of each running experiment, by experiment id."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._learners: dict[int, tuple[Strategy, Metric]] = {}

    async def strategy(self, experiment: ExperimentRoute) -> Strategy:
        """The experiment's strategy, rebuilt from its stored outcomes the first time.

        Raises:
            ExperimentStatisticsError: the stored outcomes give no valid moments.
            RegistryError: the registry could not be read.
        """
        learner = self._learners.get(experiment.id)
        if learner is None:
            learner = self._learners[experiment.id] = await self._rebuild(experiment)
        return learner[0]

    def keep_only(self, running: set[int]) -> None:
        """Forget the experiments that no longer run (ended, paused, deleted)."""
        self._learners = {i: s for i, s in self._learners.items() if i in running}

    def observe(self, experiment_id: int, arm: str, metric_value: float) -> None:
        """Feed one outcome's metric value to the running experiment's strategy."""
        learner = self._learners.get(experiment_id)
        if learner is None or arm not in ("control", "treatment"):
            return  # ended or paused: nothing routes by it in this process
        strategy, metric = learner
        strategy.observe(
            TREATMENT if arm == "treatment" else CONTROL, metric.to_reward(metric_value)
        )

    async def _rebuild(self, experiment: ExperimentRoute) -> tuple[Strategy, Metric]:
        """A strategy that starts from every outcome recorded so far."""
        metric = metric_named(experiment.metric)
        arms = await read_arms(self._registry, experiment.id)

        def rewards(m: Moments) -> Moments:
            return Moments(n=m.n, mean=metric.to_reward(m.mean), m2=m.m2)

        state = StrategyState(
            name=experiment.strategy,
            control=rewards(arms.control),
            treatment=rewards(arms.treatment),
            split=experiment.split,
            epsilon=experiment.epsilon,
            min_samples=experiment.min_samples,
            binary=metric.binary,
        )
        return strategy_from_state(state), metric
