"""The `galgate` argument parser: every command, its flags, and the checks argparse cannot do."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from gateway.cli import args as cli_args
from gateway.cli.errors import fail
from gateway.cli.experiments import add_experiment_actions
from gateway.cli.health import add_health_commands
from gateway.config import DEFAULT_DB
from registry import Stage

_PICKLE_WARNING = (
    "MODEL_FILE is a joblib/pickle file of a fitted sklearn, xgboost or lightgbm "
    "estimator, or a ready-made .onnx file. Loading a pickle file runs code stored in it: "
    "register only files you trust. The estimator is converted to ONNX here, on this "
    "machine; the gateway never loads pickle, it serves ONNX only."
)
_Parents = list[argparse.ArgumentParser]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see '{self.prog} --help')"
        fail(f"{message}{hint}", code=2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; usage errors print one line and raise SystemExit(2).

    Beyond argparse: ``args.tags`` (a dict) for `register`, and --token/--tls refused
    without --server.
    """
    args = build_parser().parse_args(argv)
    if args.command == "register":
        args.tags = _parse_tags(args.tag)
    _check_remote_flags(args)
    return args


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; defaults for --db and --actor come from ``environ``."""
    environ = os.environ if environ is None else environ
    default_db = environ.get("GALGATE_DB_URL") or DEFAULT_DB
    default_actor = environ.get("USER") or environ.get("USERNAME") or _login_name()

    root = _Parser(
        prog="galgate",
        description="galgate, the model gateway: serve ONNX models over gRPC, register "
        "and promote versions, run A/B experiments, read the audit trail. Commands work "
        "on the registry database (--db) or, where they take --server, through a running "
        "gateway.",
    )
    _add_common(root, default_db, default_actor, suppress=False)
    common = _Parser(add_help=False)
    _add_common(common, default_db, default_actor, suppress=True)
    remote = _Parser(add_help=False)  # admin commands: the local --db or a --server
    _add_remote(remote, required=False)
    remote_only = _Parser(add_help=False)  # commands only a running gateway can answer
    _add_remote(remote_only, required=True)
    commands = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    _add_registry_commands(commands, [common, remote])
    _add_gateway_commands(commands, [common, remote_only])
    _add_local_commands(commands, [common])
    experiments = commands.add_parser(
        "experiments", help="A/B experiments between two versions of a model"
    )
    actions = experiments.add_subparsers(
        dest="experiments_command", metavar="ACTION", parser_class=_Parser
    )
    actions.required = True
    add_experiment_actions(actions, [common, remote])
    add_health_commands(commands, [common, remote], [common, remote_only])
    return root


def _add_common(
    parser: argparse.ArgumentParser, default_db: str, default_actor: str, *, suppress: bool
) -> None:
    """--db/--json/--actor; ``suppress``: no defaults, so that the root's values stand."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--db",
        type=cli_args.sqlite_url,
        default=default(default_db),
        help="registry database: a SQLAlchemy URL or a SQLite file path "
        f"(default: $GALGATE_DB_URL or {DEFAULT_DB})",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for scripts"
    )
    parser.add_argument(
        "--actor",
        default=default(default_actor),
        help="who is making the change, for the audit trail (default: $USER)",
    )


def _add_remote(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--server/--token/--tls: run the command through a gateway's gRPC API."""
    parser.add_argument(
        "--server",
        type=cli_args.address,
        required=required,
        default=None,
        metavar="HOST:PORT",
        help="call the gateway's gRPC API at HOST:PORT"
        + ("" if required else " instead of opening --db"),
    )
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token for --server (default: $GALGATE_TOKEN)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="connect to --server over TLS (default root certs)"
    )


def _add_registry_commands(commands: Any, parents: _Parents) -> None:
    """register, models, promote, rollback, archive, history: on --db or a --server."""
    reg = commands.add_parser(
        "register",
        parents=parents,
        help="convert (if needed), validate and register a model version",
        description="Register a new version (stage development). " + _PICKLE_WARNING,
    )
    reg.add_argument("model_file", metavar="MODEL_FILE", help="estimator .joblib/.pkl or .onnx")
    reg.add_argument("--name", required=True, help="model name")
    reg.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="CSV (header row) or NPZ of feature rows: used for the parity check and the "
        "reference profile",
    )
    reg.add_argument("--target", default=None, metavar="COL", help="target column in --data")
    reg.add_argument("--version", default=None, help="version string (default: next patch)")
    reg.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    reg.add_argument("--description", default="")
    reg.add_argument("--reason", default="", help="recorded in the audit trail")

    models = commands.add_parser("models", help="list models or show one")
    models_cmd = models.add_subparsers(
        dest="models_command", metavar="ACTION", parser_class=_Parser
    )
    models_cmd.required = True
    models_cmd.add_parser("list", parents=parents, help="every model and its production version")
    show = models_cmd.add_parser("show", parents=parents, help="a model's versions, or one version")
    show.add_argument("name", metavar="NAME")
    show.add_argument("version", metavar="VERSION", nargs="?", default=None)

    stages = [stage.value for stage in Stage]
    promote = commands.add_parser("promote", parents=parents, help="move a version to a stage")
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument(
        "--to",
        required=True,
        choices=stages,
        metavar="STAGE",
        dest="stage",
        help="one of: " + ", ".join(stages),
    )
    promote.add_argument("--reason", default="")
    promote.add_argument("--force", action="store_true", help="skip the stage-order checks")

    rollback = commands.add_parser(
        "rollback", parents=parents, help="put the previous production version back"
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--reason", default="")

    archive = commands.add_parser("archive", parents=parents, help="archive a version")
    archive.add_argument("name", metavar="NAME")
    archive.add_argument("version", metavar="VERSION")
    archive.add_argument("--reason", default="")
    archive.add_argument("--force", action="store_true", help="archive even a production version")

    history = commands.add_parser("history", parents=parents, help="a model's stage changes")
    history.add_argument("name", metavar="NAME")


def _add_gateway_commands(commands: Any, parents: _Parents) -> None:
    """status, events, predict: only a running gateway (--server) can answer them."""
    commands.add_parser(
        "status",
        parents=parents,
        help="what a running gateway serves and what failed to load",
    )
    events = commands.add_parser(
        "events",
        parents=parents,
        help="registry events seen by a running gateway",
        description="Print registry events with id > --after, oldest first. Without --follow "
        "the command prints the backlog and exits; with --follow it waits for new events "
        "(--json: one JSON object per line) until interrupted.",
    )
    events.add_argument(
        "--after", type=cli_args.event_id, default=0, metavar="ID", help="default 0: from the first"
    )
    events.add_argument("--follow", action="store_true", help="keep printing new events")

    predict = commands.add_parser(
        "predict",
        parents=parents,
        help="ask a running gateway for a prediction",
        description="Call galgate.v1.PredictionService/Predict. --features sends one row of "
        "named values; --rows sends every row of a CSV/NPZ file as a packed float32 tensor, "
        "its columns (less --target) in the model's feature order.",
    )
    predict.add_argument("--model", required=True, help="model name")
    given = predict.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--features",
        type=cli_args.feature_values,
        metavar="NAME=VALUE,...",
        help="one named row",
    )
    given.add_argument("--rows", metavar="FILE", help="CSV (header row) or NPZ of feature rows")
    predict.add_argument(
        "--target", default=None, metavar="COL", help="a column of --rows to leave out"
    )
    predict.add_argument("--version", default="", help="serve exactly this version")
    predict.add_argument("--routing-key", default="", metavar="KEY", help="sticky A/B assignment")


def _add_local_commands(commands: Any, parents: _Parents) -> None:
    """serve, demo, predictions prune: on the registry database only."""
    serve = commands.add_parser(
        "serve",
        parents=parents,
        help="run the gRPC gateway on the registry (settings also from GALGATE_* variables)",
    )
    serve.add_argument(
        "--listen",
        type=cli_args.address,
        default=None,
        metavar="HOST:PORT",
        help="default 127.0.0.1:50051",
    )
    serve.add_argument(
        "--workers", type=cli_args.positive_int, default=1, help="processes sharing the port"
    )
    serve.add_argument(
        "--demo", action="store_true", default=None, help='register the "demo" model first'
    )
    serve.add_argument(
        "--metrics-listen",
        type=cli_args.address,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus /metrics over HTTP there",
    )

    commands.add_parser(
        "demo",
        parents=parents,
        help='register the demo classifier as "demo" and promote it to production',
    )
    predictions = commands.add_parser("predictions", help="the prediction log")
    actions = predictions.add_subparsers(
        dest="predictions_command", metavar="ACTION", parser_class=_Parser
    )
    actions.required = True
    prune = actions.add_parser(
        "prune",
        parents=parents,
        help="delete logged predictions and outcomes older than a span (the rows of "
        "running and paused experiments stay)",
    )
    prune.add_argument(
        "--older-than", type=cli_args.duration, required=True, metavar="SPAN",
        help="e.g. 7d, 36h, 1d12h",
    )  # fmt: skip
    prune.add_argument(
        "--batch-size", type=cli_args.positive_int, default=5_000,
        help="rows deleted per transaction (default 5000, at most 100000)",
    )  # fmt: skip


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): the audit still needs a name
        return "unknown"


def _parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--tag expects KEY=VALUE, got {pair!r}", code=2)
        tags[key] = value
    return tags


def _check_remote_flags(args: argparse.Namespace) -> None:
    """--token and --tls mean nothing without --server: say so rather than ignore them."""
    if getattr(args, "server", None) is not None:
        return
    if getattr(args, "token", None) is not None:
        fail("--token needs --server HOST:PORT", code=2)
    if getattr(args, "tls", False):
        fail("--tls needs --server HOST:PORT", code=2)
