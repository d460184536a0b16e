"""Pure computation of an experiment's live results from per-arm database aggregates."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from gateway.errors import ExperimentStatisticsError
from gateway.stats import (
    Moments,
    SequentialResult,
    metric_named,
    pooled_sigma,
    required_samples_per_arm,
    welch_test,
    winner,
)
from registry.entities import ArmAggregate, Experiment


def moments_of(aggregate: ArmAggregate | None) -> Moments:
    """Moments of an arm's metric values from its database sums.

    >>> moments_of(ArmAggregate("control", 3, 3, 6.0, 14.0))
    Moments(n=3, mean=2.0, m2=2.0)
    >>> moments_of(ArmAggregate("control", 3, 3, 6.0, float("inf")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gateway.errors.ExperimentStatisticsError: an experiment: ... (the control arm's sums ...

    Raises:
        ExperimentStatisticsError: the sums are not finite (stored before outcome values
            were bounded) and no moments can be computed from them.
    """
    if aggregate is None or aggregate.outcomes == 0:
        return Moments()
    total, total_sq = aggregate.total, aggregate.total_sq
    mean = total / aggregate.outcomes
    m2 = max(total_sq - total * mean, 0.0)
    if not (math.isfinite(mean) and math.isfinite(m2)):
        raise ExperimentStatisticsError(
            f"the {aggregate.arm} arm's sums over {aggregate.outcomes} outcomes are "
            f"{total:g} and {total_sq:g}"
        )
    return Moments(n=aggregate.outcomes, mean=mean, m2=m2)


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
    """Everything GetExperimentResults reports; stored as the final results at the end."""

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (infinite interval bounds become None)."""
        data = asdict(self)
        for key in ("ci_low", "ci_high"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        """Inverse of to_dict."""
        values = dict(data)
        values["control"] = ArmResult(**values["control"])
        values["treatment"] = ArmResult(**values["treatment"])
        values["ci_low"] = -math.inf if values["ci_low"] is None else values["ci_low"]
        values["ci_high"] = math.inf if values["ci_high"] is None else values["ci_high"]
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
    sequential: SequentialResult,
) -> Results:
    """Welch test, interval, effect size, sample size and the sequential verdict.

    The winner is called only from the sequential test (safe under continuous
    monitoring) once both arms have ``min_samples`` outcomes; the Welch p-value is
    reported for reference.
    """
    spec = experiment.spec
    metric = metric_named(spec.metric)
    alpha = 1.0 - spec.confidence
    control, treatment = (
        moments_of(aggregates.get("control")),
        moments_of(aggregates.get("treatment")),
    )
    welch = welch_test(control, treatment, alpha=alpha)
    required = 0
    if spec.min_detectable_effect > 0 and control.n + treatment.n >= 3:
        sigma = pooled_sigma(control, treatment)
        if sigma > 0:
            required = required_samples_per_arm(sigma, spec.min_detectable_effect, alpha=alpha)
    enough = min(control.n, treatment.n) >= spec.min_samples
    called = winner(sequential, metric, alpha) if enough and sequential.decisive else None
    return Results(
        control=_arm("control", spec.control_version, aggregates.get("control"), control),
        treatment=_arm("treatment", spec.treatment_version, aggregates.get("treatment"), treatment),
        difference=welch.diff,
        ci_low=welch.ci_low,
        ci_high=welch.ci_high,
        p_value=welch.p_value,
        sequential_p_value=sequential.p_value,
        sequential_decisive=sequential.decisive,
        effect_size=welch.effect_size,
        required_samples_per_arm=required,
        winner=called or "",
        recommendation=_recommend(experiment, control, treatment, sequential, called, enough),
    )


def _recommend(experiment, control, treatment, sequential, called, enough) -> str:
    spec = experiment.spec
    better = "lower" if metric_named(spec.metric).direction < 0 else "higher"
    if called == "treatment":
        return (
            f"promote {spec.treatment_version}: its {spec.metric} is significantly better "
            f"({better} is better; always-valid p={sequential.p_value:.4g})"
        )
    if called == "control":
        return (
            f"keep {spec.control_version}: the treatment's {spec.metric} is significantly "
            f"worse (always-valid p={sequential.p_value:.4g})"
        )
    if not enough:
        return (
            f"keep collecting: {min(control.n, treatment.n)} of {spec.min_samples} outcomes "
            "in the smaller arm"
        )
    return f"no significant difference yet (always-valid p={sequential.p_value:.4g}); keep running"
