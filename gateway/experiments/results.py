"""Pure computation of an experiment's results from its arms' moments and its sequential
test's state (replayed from the stored looks)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from gateway.errors import ExperimentStatisticsError
from gateway.stats import (
    Moments,
    metric_named,
    sequential,
    sequential_samples_per_arm,
    welch_test,
)
from registry.entities import ArmAggregate, Experiment

# Strategies that route by a fixed share; bandits move traffic, so their sample size is
# given for an even split.
_FIXED_SPLIT = ("random", "weighted")


def moments_of(aggregate: ArmAggregate | None) -> Moments:
    """Moments of an arm's metric values from the registry's central sums.

    >>> moments_of(ArmAggregate("control", 3, 3, 2.0, 2.0))
    Moments(n=3, mean=2.0, m2=2.0, m3=0.0, m4=0.0)
    >>> moments_of(ArmAggregate("control", 3, 3, 2.0, float("inf")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gateway.errors.ExperimentStatisticsError: an experiment: ... (the control arm's ...

    Raises:
        ExperimentStatisticsError: the sums are not finite (stored before outcome values
            were bounded) and no moments can be computed from them.
    """
    if aggregate is None or aggregate.outcomes == 0:
        return Moments()
    a = aggregate
    try:
        return Moments(a.outcomes, a.mean, a.m2, a.m3, a.m4)
    except ValueError:
        raise ExperimentStatisticsError(
            f"the {a.arm} arm's moments over {a.outcomes} outcomes are mean {a.mean:g}, m2 {a.m2:g}"
        ) from None


def config_of(experiment: Experiment) -> sequential.Config:
    """The sequential tests' configuration of an experiment."""
    spec = experiment.spec
    return sequential.Config(
        alpha=1.0 - spec.confidence,
        min_samples=spec.min_samples,
        direction=metric_named(spec.metric).direction,
        max_loss=spec.max_loss or 0.0,
    )


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm's counts and metric summary."""

    arm: str
    version: str
    predictions: int
    outcomes: int
    metric_mean: float
    metric_std: float


@dataclass(frozen=True, slots=True)
class Results:
    """Everything GetExperimentResults reports; stored as the final results at the end.

    ``ci_low``/``ci_high`` and ``p_value`` are the fixed-horizon Welch figures: valid
    for one look only, shown for reference. What decides is the always-valid test:
    ``sequential_p_value`` and the confidence sequence ``cs_low``/``cs_high`` for the
    difference, valid however often the monitor looks.
    """

    control: ArmResult
    treatment: ArmResult
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    sequential_p_value: float
    sequential_decisive: bool
    effect_size: float
    required_samples_per_arm: int
    winner: str
    recommendation: str
    cs_low: float = -math.inf
    cs_high: float = math.inf
    looks: int = 0
    loss_exceeded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (infinite interval bounds become None)."""
        data = asdict(self)
        for key in ("ci_low", "ci_high", "cs_low", "cs_high"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        """Inverse of to_dict (results stored before a field existed get its default)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["control"] = ArmResult(**values["control"])
        values["treatment"] = ArmResult(**values["treatment"])
        for key, infinite in (
            ("ci_low", -math.inf),
            ("ci_high", math.inf),
            ("cs_low", -math.inf),
            ("cs_high", math.inf),
        ):
            if values.get(key) is None:
                values[key] = infinite
        return cls(**values)


def _arm(name: str, version: str, aggregate: ArmAggregate | None, m: Moments) -> ArmResult:
    return ArmResult(
        arm=name,
        version=version,
        predictions=aggregate.predictions if aggregate else 0,
        outcomes=m.n,
        metric_mean=m.mean,
        metric_std=m.std,
    )


def compute(
    experiment: Experiment,
    aggregates: dict[str, ArmAggregate],
    state: sequential.State,
    looks: int,
) -> Results:
    """Welch (for reference), the sequential verdict, the confidence sequence and the
    sample size the deciding test needs.

    Args:
        experiment: the experiment.
        aggregates: both arms' database moments at this look.
        state: the sequential test's state after this look (one experiment).
        looks: how many looks the state has seen.
    """
    spec = experiment.spec
    alpha = 1.0 - spec.confidence
    control = moments_of(aggregates.get("control"))
    treatment = moments_of(aggregates.get("treatment"))
    welch = welch_test(control, treatment, alpha=alpha)
    required = 0
    if spec.min_detectable_effect > 0 and control.n + treatment.n >= 3:
        pooled = control.merge(treatment)
        if pooled.variance > 0:
            split = spec.split if spec.strategy in _FIXED_SPLIT else 0.5
            required = sequential_samples_per_arm(
                pooled.std,
                spec.min_detectable_effect,
                alpha=alpha,
                min_samples=spec.min_samples,
                split=split,
            )
    winner = {1: "treatment", -1: "control"}.get(int(state.winner[0]), "")
    loss = bool(state.loss[0])
    p_sequential = float(state.p[0])
    return Results(
        control=_arm("control", spec.control_version, aggregates.get("control"), control),
        treatment=_arm("treatment", spec.treatment_version, aggregates.get("treatment"), treatment),
        difference=welch.diff,
        ci_low=welch.ci_low,
        ci_high=welch.ci_high,
        p_value=welch.p_value,
        sequential_p_value=p_sequential,
        sequential_decisive=bool(winner),
        effect_size=welch.effect_size,
        required_samples_per_arm=required,
        winner=winner,
        recommendation=_recommend(experiment, control, treatment, p_sequential, winner, loss),
        cs_low=float(state.cs_low[0]),
        cs_high=float(state.cs_high[0]),
        looks=looks,
        loss_exceeded=loss,
    )


def _recommend(experiment, control, treatment, p: float, winner: str, loss: bool) -> str:
    spec = experiment.spec
    better = "lower" if metric_named(spec.metric).direction < 0 else "higher"
    if loss:
        return (
            f"stop {spec.treatment_version}: it is worse than control by more than "
            f"max_loss={spec.max_loss:g} on {spec.metric} (one-sided sequential test)"
        )
    if winner == "treatment":
        return (
            f"promote {spec.treatment_version}: its {spec.metric} is significantly better "
            f"({better} is better; always-valid p={p:.4g})"
        )
    if winner == "control":
        return (
            f"keep {spec.control_version}: the treatment's {spec.metric} is significantly "
            f"worse (always-valid p={p:.4g})"
        )
    needed = max(spec.min_samples, sequential.BURN_IN)
    if min(control.n, treatment.n) < needed:
        return (
            f"keep collecting: {min(control.n, treatment.n)} of {needed} outcomes in the "
            "smaller arm"
        )
    return f"no significant difference yet (always-valid p={p:.4g}); keep running"
