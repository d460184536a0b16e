"""Experiments, their specs and their results to and from galgate.v1 admin messages."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields
from datetime import UTC
from typing import TYPE_CHECKING, Any

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.brief import brief
from gateway.errors import InvalidInputError
from gateway.wire.common import dumps, timestamp, when, when_set
from registry.entities import Experiment, ExperimentSpec, ExperimentState

if TYPE_CHECKING:
    from gateway.experiments.results import ArmResult, Results


def experiment_spec(request: pb.CreateExperimentRequest) -> ExperimentSpec:
    """An ExperimentSpec from a CreateExperiment request, zero values meaning defaults."""
    end_time = None
    if request.HasField("end_time"):
        try:
            end_time = request.end_time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError) as exc:
            raise InvalidInputError(f"end_time is not a valid timestamp: {exc}") from None
    return ExperimentSpec(
        model=request.model,
        control_version=request.control_version,
        treatment_version=request.treatment_version,
        strategy=request.strategy or "random",
        metric=request.metric,
        split=request.split or 0.5,
        epsilon=request.epsilon or 0.1,
        confidence=request.confidence or 0.95,
        min_detectable_effect=request.min_detectable_effect,
        min_samples=request.min_samples or 100,
        max_loss=request.max_loss or None,
        end_time=end_time,
        auto_promote=request.auto_promote,
        name=request.name,
        description=request.description,
    )


def experiment_request(spec: ExperimentSpec, *, start: bool) -> pb.CreateExperimentRequest:
    """Encode a CreateExperiment request: the spec's fields under the same names.

    The wire's zero values mean "default", so the spec's values must be non-zero where
    that matters (the CLI's flags ensure it); no ``max_loss`` is sent as 0.
    """
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    values |= {"max_loss": spec.max_loss or 0.0, "end_time": timestamp(spec.end_time)}
    return pb.CreateExperimentRequest(**values, create_only=not start)


def experiment_info(e: Experiment) -> pb.ExperimentInfo:
    """Encode one experiment."""
    spec = e.spec
    return pb.ExperimentInfo(
        id=e.id,
        name=spec.name,
        model=spec.model,
        control_version=spec.control_version,
        treatment_version=spec.treatment_version,
        strategy=spec.strategy,
        split=spec.split,
        epsilon=spec.epsilon,
        metric=spec.metric,
        confidence=spec.confidence,
        min_detectable_effect=spec.min_detectable_effect,
        min_samples=spec.min_samples,
        max_loss=spec.max_loss or 0.0,
        end_time=timestamp(spec.end_time),
        auto_promote=spec.auto_promote,
        state=e.state.value,
        created_at=timestamp(e.created_at),
        started_at=timestamp(e.started_at),
        ended_at=timestamp(e.ended_at),
        end_reason=e.end_reason,
        winner=e.winner,
        description=spec.description,
        control_sha256=e.control_sha256,
        treatment_sha256=e.treatment_sha256,
        tau2=e.tau2,
        final_results_json=dumps(dict(e.final_results)) if e.final_results else "",
    )


def _same_named(message: Any, record: type) -> dict[str, Any]:
    """The values of ``record``'s fields, read from the message's fields of the same names
    (ExperimentInfo and ExperimentResults mirror ExperimentSpec and Results)."""
    return {f.name: getattr(message, f.name) for f in fields(record)}


def experiment_from_info(info: pb.ExperimentInfo) -> Experiment:
    """Decode an ExperimentInfo (inverse of :func:`experiment_info`)."""
    spec = ExperimentSpec(
        **_same_named(info, ExperimentSpec)
        | {"max_loss": info.max_loss or None, "end_time": when_set(info, "end_time")}
    )
    return Experiment(
        id=info.id,
        spec=spec,
        state=ExperimentState(info.state),
        control_sha256=info.control_sha256,
        treatment_sha256=info.treatment_sha256,
        created_at=when(info.created_at),
        started_at=when_set(info, "started_at"),
        ended_at=when_set(info, "ended_at"),
        end_reason=info.end_reason,
        winner=info.winner,
        tau2=info.tau2 if info.HasField("tau2") else None,
        final_results=json.loads(info.final_results_json) if info.final_results_json else {},
    )


def _arm_results(arm: ArmResult) -> pb.ArmResults:
    return pb.ArmResults(
        arm=arm.arm,
        version=arm.version,
        predictions=arm.predictions,
        outcomes=arm.outcomes,
        metric_mean=arm.metric_mean,
        metric_std=arm.metric_std,
    )


def experiment_results(e: Experiment, results: Results) -> pb.ExperimentResults:
    """Encode an experiment's results (live or final)."""
    return pb.ExperimentResults(
        experiment=experiment_info(e),
        control=_arm_results(results.control),
        treatment=_arm_results(results.treatment),
        difference=results.difference,
        ci_low=results.ci_low,
        ci_high=results.ci_high,
        p_value=results.p_value,
        sequential_p_value=results.sequential_p_value,
        sequential_decisive=results.sequential_decisive,
        effect_size=results.effect_size,
        required_samples_per_arm=results.required_samples_per_arm,
        winner=results.winner,
        recommendation=results.recommendation,
        cs_low=results.cs_low,
        cs_high=results.cs_high,
        looks=results.looks,
        loss_exceeded=results.loss_exceeded,
    )


def results_from_message(message: pb.ExperimentResults) -> tuple[Experiment, Results]:
    """Decode GetExperimentResults into the experiment and its results."""
    from gateway.experiments.results import ArmResult, Results

    arms = {
        arm: ArmResult(**_same_named(getattr(message, arm), ArmResult))
        for arm in ("control", "treatment")
    }
    results = Results(**_same_named(message, Results) | arms)
    return experiment_from_info(message.experiment), results


def parse_experiment_state(text: str) -> ExperimentState:
    """An ExperimentState from its name; INVALID_ARGUMENT listing the states otherwise.

    >>> parse_experiment_state("Running").value
    'running'
    """
    try:
        return ExperimentState(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown experiment state {brief(text)}; expected one of "
            f"{[s.value for s in ExperimentState]}"
        ) from None
