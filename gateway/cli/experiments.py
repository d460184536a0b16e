"""`galgate experiments create|list|show|pause|resume|stop`: their flags, run and output."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from gateway.cli import args as cli_args
from gateway.cli.backend import Backend
from gateway.cli.render_experiment import (
    render_experiment_created,
    render_experiment_moved,
    render_experiment_report,
    render_experiments,
)
from registry.entities import ExperimentSpec, ExperimentState
from registry.rules.experiments import METRICS, STRATEGIES

# action -> (target state, past tense, help)
MOVES = {
    "pause": (
        ExperimentState.PAUSED,
        "paused",
        "stop routing to a running experiment for now (production serves its traffic)",
    ),
    "resume": (
        ExperimentState.RUNNING,
        "resumed",
        "route to a paused experiment again, or start a --create-only one",
    ),
    "stop": (
        ExperimentState.STOPPED,
        "stopped",
        "end an experiment for good without a winner; its results are kept",
    ),
}


def add_experiment_actions(actions: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the actions of `experiments` to its subparsers ``actions``.

    Args:
        actions: what ``add_subparsers`` returned for the `experiments` command.
        parents: parsers whose options (--db, --json, --server, ...) every action takes.
    """
    _add_create(actions, parents)
    listed = actions.add_parser("list", parents=parents, help="experiments, oldest first")
    listed.add_argument("--model", default=None, metavar="MODEL", help="only this model's")
    states = [state.value for state in ExperimentState]
    listed.add_argument(
        "--state",
        choices=states,
        default=None,
        metavar="STATE",
        help="only those in STATE: " + ", ".join(states),
    )
    show = actions.add_parser(
        "show",
        parents=parents,
        help="an experiment and its results",
        description="An experiment's configuration and results: per arm predictions, "
        "outcomes and metric mean/std; the difference with its confidence interval, the "
        "fixed-horizon Welch p-value, the always-valid (sequential) p-value, effect size, "
        "required sample size, winner and a recommendation. Ended experiments show the "
        "results stored when they ended. With --db the always-valid p-value is this look's "
        "alone; a gateway (--server) reports its running minimum over every look it took.",
    )
    show.add_argument("id", type=cli_args.experiment_id, metavar="ID")
    for action, (_, _, about) in MOVES.items():
        move = actions.add_parser(action, parents=parents, help=about)
        move.add_argument("id", type=cli_args.experiment_id, metavar="ID")
        move.add_argument("--reason", default="", help="recorded in the audit trail")


def _add_create(actions: Any, parents: list[argparse.ArgumentParser]) -> None:
    create = actions.add_parser(
        "create",
        parents=parents,
        help="start an experiment: control vs treatment version of MODEL",
        description="Create an A/B experiment and start it (--create-only: leave it "
        "'created'). At most one experiment per model may be running or paused. With "
        "--server the gateway first checks that both versions load and warm. With --db "
        "only the registry row is written: gateways watching the registry pick it up from "
        "the registry events, load both versions and start routing; a version that fails "
        "to load there is reported by the gateway (galgate status), not here.",
    )
    create.add_argument("model", metavar="MODEL")
    create.add_argument("--control", required=True, metavar="VERSION", help="control version")
    create.add_argument("--treatment", required=True, metavar="VERSION", help="treatment version")
    create.add_argument("--strategy", choices=STRATEGIES, default="random", help="default random")
    create.add_argument(
        "--split",
        type=cli_args.open_fraction,
        default=0.5,
        help="treatment's traffic share (weighted)",
    )
    create.add_argument(
        "--epsilon", type=cli_args.epsilon, default=0.1, help="exploration rate (epsilon_greedy)"
    )
    create.add_argument(
        "--metric",
        required=True,
        choices=METRICS,
        help="per-outcome metric: squared_error and absolute_error (lower is better), "
        "accuracy and reward (higher is better)",
    )
    create.add_argument(
        "--confidence",
        type=cli_args.open_fraction,
        default=0.95,
        help="of the tests (default 0.95)",
    )
    create.add_argument(
        "--mde",
        type=cli_args.non_negative,
        default=0.0,
        dest="min_detectable_effect",
        metavar="X",
        help="smallest difference worth detecting, in metric units (for the sample size)",
    )
    create.add_argument(
        "--min-samples",
        type=cli_args.positive_int,
        default=100,
        metavar="N",
        help="outcomes per arm before a winner is called (default 100)",
    )
    create.add_argument(
        "--max-loss",
        type=cli_args.positive,
        default=None,
        metavar="X",
        help="stop early when the treatment is significantly worse by more than X metric "
        "units (default: no limit)",
    )
    ends = create.add_mutually_exclusive_group()
    ends.add_argument(
        "--end-time",
        type=cli_args.end_time,
        default=None,
        metavar="ISO8601",
        help="complete it then; with a UTC offset, e.g. 2025-07-01T16:00:00Z",
    )
    ends.add_argument(
        "--duration",
        type=cli_args.duration,
        default=None,
        metavar="SPAN",
        help="complete it after SPAN from now, e.g. 90m, 2h, 1d12h",
    )
    create.add_argument(
        "--auto-promote",
        action="store_true",
        help="promote the treatment to production when it wins",
    )
    create.add_argument("--name", default="")
    create.add_argument("--description", default="")
    create.add_argument(
        "--create-only", action="store_true", help="do not start it (state 'created')"
    )


def experiment_spec(args: argparse.Namespace) -> ExperimentSpec:
    """The ExperimentSpec of `experiments create` (--duration counts from now)."""
    end_time = args.end_time
    if args.duration is not None:
        end_time = datetime.now(UTC) + args.duration
    return ExperimentSpec(
        model=args.model,
        control_version=args.control,
        treatment_version=args.treatment,
        strategy=args.strategy,
        metric=args.metric,
        split=args.split,
        epsilon=args.epsilon,
        confidence=args.confidence,
        min_detectable_effect=args.min_detectable_effect,
        min_samples=args.min_samples,
        max_loss=args.max_loss,
        end_time=end_time,
        auto_promote=args.auto_promote,
        name=args.name,
        description=args.description,
    )


async def run_experiments(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one parsed `experiments` action; returns what to print."""
    action = args.experiments_command
    if action == "create":
        spec = experiment_spec(args)
        return await backend.create_experiment(spec, actor=args.actor, start=not args.create_only)
    if action == "list":
        state = ExperimentState(args.state) if args.state else None
        return await backend.list_experiments(model=args.model, state=state)
    if action == "show":
        return await backend.experiment_report(args.id)
    to = MOVES[action][0]
    return await backend.move_experiment(args.id, to, actor=args.actor, reason=args.reason)


def render_experiments_result(args: argparse.Namespace, result: Any) -> str:
    """Human-readable text for an `experiments` action's result."""
    action = args.experiments_command
    if action == "create":
        return render_experiment_created(result, remote=bool(getattr(args, "server", None)))
    if action == "list":
        return render_experiments(result)
    if action == "show":
        return render_experiment_report(result)
    return render_experiment_moved(result, MOVES[action][1])
