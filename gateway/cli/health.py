"""`galgate drift check|list|show`, `galgate alerts list|ack` and `galgate retrain
start|list`: flags, run and output."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.cli import args as cli_args
from gateway.cli.backend import Backend
from gateway.cli.render import when
from registry.entities import (
    Alert,
    AlertSeverity,
    DriftReport,
    RetrainingRun,
    RetrainingState,
)

COMMANDS = frozenset({"drift", "alerts", "retrain"})


def add_health_commands(
    commands: Any, parents: list[argparse.ArgumentParser], gateway: list[argparse.ArgumentParser]
) -> None:
    """Add `drift` and `alerts` to the root's subcommands.

    Args:
        commands: what ``add_subparsers`` returned for the root parser.
        parents: options of commands that run on --db or through --server.
        gateway: options of commands only a running gateway answers (--server required).
    """
    drift = commands.add_parser("drift", help="drift checks of the served versions")
    actions = drift.add_subparsers(dest="drift_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        parents=gateway,
        help="check what a gateway serves for drift now, and store the reports",
        description="The gateway compares each served version's recent inputs (KS and PSI "
        "per feature against the reference profile stored at registration), its recent "
        "outcome errors (against the version's recorded accuracy or MAE) and its error "
        "stream (Page-Hinkley), stores one report per version and raises an alert on drift.",
    )
    check.add_argument("--model", default=None, help="only this model (default: every one)")
    check.add_argument("--version", default=None, help="only this version of --model")
    listed = actions.add_parser("list", parents=parents, help="stored drift reports, newest first")
    listed.add_argument("--model", default=None, help="only this model's")
    listed.add_argument("--version", default=None, help="only this version's")
    listed.add_argument("--drift-only", action="store_true", help="only reports that found drift")
    listed.add_argument("--limit", type=cli_args.positive_int, default=20, help="default 20")
    show = actions.add_parser("show", parents=parents, help="one report, feature by feature")
    show.add_argument("id", type=cli_args.positive_int, metavar="ID")

    alerts = commands.add_parser("alerts", help="alerts the gateways raised")
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    actions.required = True
    listed = actions.add_parser("list", parents=parents, help="alerts, newest first")
    listed.add_argument("--open", action="store_true", help="only those not acknowledged")
    listed.add_argument("--model", default=None, help="only this model's")
    listed.add_argument(
        "--severity", choices=[s.value for s in AlertSeverity], default=None, help="only these"
    )
    listed.add_argument("--limit", type=cli_args.positive_int, default=20, help="default 20")
    ack = actions.add_parser("ack", parents=parents, help="acknowledge an alert")
    ack.add_argument("id", type=cli_args.positive_int, metavar="ID")
    ack.add_argument("--note", default="", help="what was done, for the audit trail")

    retrain = commands.add_parser("retrain", help="retraining runs")
    actions = retrain.add_subparsers(dest="retrain_command", metavar="ACTION")
    actions.required = True
    start = actions.add_parser(
        "start",
        parents=gateway,
        help="retrain a model now with the gateway's trainer",
        description="The gateway trains a candidate in a separate process on logged "
        "inputs joined with outcomes, validates it against production on held-out "
        "outcomes, registers it in staging and starts a validation experiment. The run "
        "goes on after the command returns: follow it with `galgate retrain list`.",
    )
    start.add_argument("model", metavar="MODEL")
    start.add_argument("--reason", default="", help="recorded with the run and the lineage")
    listed = actions.add_parser("list", parents=parents, help="retraining runs, newest first")
    listed.add_argument("--model", default=None, help="only this model's")
    listed.add_argument(
        "--state", choices=[s.value for s in RetrainingState], default=None, help="only these"
    )
    listed.add_argument("--limit", type=cli_args.positive_int, default=20, help="default 20")


async def run(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one `drift` or `alerts` action."""
    if args.command == "drift":
        if args.drift_command == "check":
            return await backend.check_drift(model=args.model, version=args.version)
        if args.drift_command == "list":
            return await backend.list_drift_reports(
                model=args.model,
                version=args.version,
                drift_only=args.drift_only,
                limit=args.limit,
            )
        return await backend.get_drift_report(args.id)
    if args.command == "retrain":
        if args.retrain_command == "start":
            reason = args.reason or f"asked by {args.actor}"
            return await backend.trigger_retraining(args.model, reason=reason)
        return await backend.list_retraining_runs(
            model=args.model,
            state=RetrainingState(args.state) if args.state else None,
            limit=args.limit,
        )
    if args.alerts_command == "list":
        return await backend.list_alerts(
            open_only=args.open,
            model=args.model,
            severity=AlertSeverity(args.severity) if args.severity else None,
            limit=args.limit,
        )
    return await backend.acknowledge_alert(args.id, actor=args.actor, note=args.note)


def render(args: argparse.Namespace, result: Any) -> str:
    """Human-readable text for a `drift` or `alerts` result."""
    if isinstance(result, DriftReport):
        return render_report(result)
    if isinstance(result, RetrainingRun):
        return _run_line(result)
    if args.command == "retrain":
        return "\n".join(_run_line(r) for r in result) or "no retraining runs"
    if isinstance(result, Alert):
        return f"alert {result.id} acknowledged by {result.acknowledged_by}: {result.message}"
    if args.command == "drift":
        return "\n".join(_report_line(r) for r in result) or "no drift reports"
    return "\n".join(_alert_line(a) for a in result) or "no alerts"


def _report_line(r: DriftReport) -> str:
    verdict = f"DRIFT ({', '.join(r.kinds)})" if r.drift else "ok"
    return (
        f"{r.id:>6}  {when(r.created_at)}  {r.model} {r.version}  {verdict}  "
        f"{r.live_rows} rows, {r.outcomes} outcomes  {r.summary}"
    )


def _run_line(r: RetrainingRun) -> str:
    made = f" -> {r.new_version}" if r.new_version else ""
    experiment = f" (experiment {r.experiment_id})" if r.experiment_id else ""
    error = f"  {r.error}" if r.error else ""
    return (
        f"{r.id:>6}  {when(r.started_at)}  {r.model} {r.parent_version}{made}{experiment}  "
        f"{r.state.value}  {r.trigger}: {r.reason}{error}"
    )


def _alert_line(a: Alert) -> str:
    state = "open" if a.acknowledged_at is None else f"acked by {a.acknowledged_by}"
    times = f" x{a.count}" if a.count > 1 else ""
    return (
        f"{a.id:>6}  {when(a.last_seen_at)}  {a.severity.value:<8} {a.kind:<12} "
        f"{state}{times}  {a.message}"
    )


def render_report(r: DriftReport) -> str:
    """A report with its per-feature table."""
    lines = [_report_line(r)]
    data = r.details.get("data")
    if data:
        lines += [
            "",
            f"{'feature':<24}{'KS D':>8}{'p-value':>11}{'threshold':>11}{'PSI':>8}"
            f"{'live mean':>12}{'ref mean':>12}  drift",
        ]
        for f in data["features"]:
            lines.append(
                f"{f['name'][:23]:<24}{f['ks_statistic']:>8.3f}{f['ks_p_value']:>11.2e}"
                f"{f['ks_threshold']:>11.2e}{f['psi']:>8.3f}{f['live_mean']:>12.4g}"
                f"{f['reference_mean']:>12.4g}  {'yes' if f['drifted'] else ''}"
            )
    for part in ("performance", "concept"):
        if part in r.details:
            lines += ["", f"{part}: {json.dumps(r.details[part], sort_keys=True)}"]
    return "\n".join(lines)
