"""Pure text views of A/B experiments for `galgate experiments`: tables, report, verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gateway.cli.backend import ExperimentReport
from gateway.cli.render import key_values, number, table, when
from registry.entities import Experiment, ExperimentState
from registry.rules.experiments import LOWER_IS_BETTER

# Which way is better, per metric (gateway.stats.metrics; a test keeps them equal).


def _subject(e: Experiment) -> str:
    spec = e.spec
    name = f" {spec.name!r}" if spec.name else ""
    return (
        f"experiment {e.id}{name} on {spec.model}: control {spec.control_version}, "
        f"treatment {spec.treatment_version}"
    )


def render_experiment_created(e: Experiment, *, remote: bool) -> str:
    """What `experiments create` prints."""
    spec = e.spec
    lines = [
        f"created {_subject(e)} ({e.state.value})",
        f"  strategy {_strategy(e)}, metric {_metric(spec.metric)}",
    ]
    if e.state is ExperimentState.RUNNING and not remote:
        lines.append("  gateways watching this registry start routing when the change reaches them")
    lines.append(f"next: galgate experiments show {e.id}")
    return "\n".join(lines)


def render_experiment_moved(e: Experiment, verb: str) -> str:
    """What `experiments pause|resume|stop` prints."""
    return f"{verb} {_subject(e)}: now {e.state.value}"


def render_experiments(experiments: Sequence[Experiment]) -> str:
    """The `experiments list` table, oldest first."""
    if not experiments:
        return "no experiments"
    rows = [
        [
            e.id,
            e.spec.name or "-",
            e.spec.model,
            e.spec.control_version,
            e.spec.treatment_version,
            e.spec.strategy,
            e.spec.metric,
            e.state.value,
            e.winner or "-",
            when(e.created_at),
        ]
        for e in experiments
    ]
    headers = [
        "ID", "NAME", "MODEL", "CONTROL", "TREATMENT", "STRATEGY", "METRIC", "STATE",
        "WINNER", "CREATED",
    ]  # fmt: skip
    return table(headers, rows)


def _strategy(e: Experiment) -> str:
    spec = e.spec
    if spec.strategy == "weighted":
        return f"weighted (treatment share {spec.split:g})"
    if spec.strategy == "epsilon_greedy":
        return f"epsilon_greedy (epsilon {spec.epsilon:g})"
    return spec.strategy


def _metric(name: str) -> str:
    return f"{name} ({'lower' if name in LOWER_IS_BETTER else 'higher'} is better)"


def _interval(low: float, high: float, confidence: float) -> str:
    level = f"{confidence * 100:g}% CI"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{level} not defined yet (needs 2+ outcomes per arm, not all equal)"
    return f"{level} [{number(low)}, {number(high)}]"


def render_experiment_report(report: ExperimentReport) -> str:
    """The `experiments show ID` view: configuration, state, per-arm numbers, verdict."""
    e, r = report.experiment, report.results
    spec = e.spec
    ended = e.ended_at is not None
    head: list[tuple[str, object]] = [
        ("experiment", f"{e.id}" + (f" ({spec.name})" if spec.name else "")),
        ("model", spec.model),
        ("state", e.state.value + (f": {e.end_reason}" if ended and e.end_reason else "")),
        ("strategy", _strategy(e)),
        ("metric", _metric(spec.metric)),
        ("confidence", f"{spec.confidence:g}"),
        ("min samples", f"{spec.min_samples} outcomes per arm"),
        ("min effect", number(spec.min_detectable_effect) if spec.min_detectable_effect else "-"),
        ("max loss", number(spec.max_loss) if spec.max_loss else "-"),
        ("end time", when(spec.end_time)),
        ("auto-promote", "yes" if spec.auto_promote else "no"),
        ("created", when(e.created_at)),
        ("started", when(e.started_at)),
        ("ended", when(e.ended_at)),
    ]
    if spec.description:
        head.insert(2, ("description", spec.description))
    arms = table(
        ["ARM", "VERSION", "PREDICTIONS", "OUTCOMES", "MEAN", "STD"],
        [
            [a.arm, a.version, a.predictions, a.outcomes, _mean(a), _std(a)]
            for a in (r.control, r.treatment)
        ],
    )
    verdict: list[tuple[str, object]] = [
        (
            "difference",
            f"{number(r.difference)} (treatment - control), fixed-horizon "
            + _interval(r.ci_low, r.ci_high, spec.confidence),
        ),
        (
            "always-valid",
            f"{_interval(r.cs_low, r.cs_high, spec.confidence)}, p {number(r.sequential_p_value)} "
            f"(sequential test over {r.looks} looks, "
            f"{'decisive' if r.sequential_decisive else 'not decisive'}"
            f"{'; loss beyond max loss' if r.loss_exceeded else ''}): what decides",
        ),
        ("welch p", f"{number(r.p_value)} (fixed horizon: valid for a single look only)"),
        ("effect size", f"{number(r.effect_size)} (Cohen's d)"),
        (
            "required",
            f"{r.required_samples_per_arm} outcomes in the smaller arm (sequential test, "
            "80% power at the min effect)"
            if r.required_samples_per_arm
            else "- (needs --mde and outcomes with variance)",
        ),
        ("winner", _winner(e, r.winner, ended)),
        ("recommendation", r.recommendation),
    ]
    width = max(len(k) for k, _ in (*head, *verdict))
    return "\n".join([key_values(head, width), "", arms, "", key_values(verdict, width)])


def _winner(e: Experiment, called: str, ended: bool) -> str:
    """The recorded winner of an ended experiment (the test's call may differ: a stop
    records none), else the sequential test's call so far."""
    if not ended:
        return called or "-"
    shown = e.winner or "none"
    if called and called != e.winner:
        shown += f" (the sequential test favoured the {called})"
    return shown


def _mean(a: Any) -> str:
    return number(a.metric_mean) if a.outcomes else "-"


def _std(a: Any) -> str:
    return number(a.metric_std) if a.outcomes > 1 else "-"
