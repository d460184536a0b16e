"""The `galgate` command line: registry admin (local or --server), status, events, predict."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.cli_backend import Backend, CliError, LocalBackend
from gateway.cli_render import (
    render_event,
    render_events,
    render_experiment_created,
    render_experiment_moved,
    render_experiment_report,
    render_experiments,
    render_history,
    render_model,
    render_models,
    render_prediction,
    render_registered,
    render_status,
    render_version,
    to_plain,
)
from gateway.config import DEFAULT_DB
from registry import RegistryError, Stage
from registry.entities import ExperimentSpec, ExperimentState

if TYPE_CHECKING:
    from converters import Table
    from gateway.cli_remote import RemoteBackend, RemoteTarget
    from gateway.registration import PreparedVersion

_PICKLE_WARNING = (
    "MODEL_FILE is a joblib/pickle file of a fitted sklearn, xgboost or lightgbm "
    "estimator, or a ready-made .onnx file. Loading a pickle file runs code stored in it: "
    "register only files you trust. The estimator is converted to ONNX here, on this "
    "machine; the gateway never loads pickle, it serves ONNX only."
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see '{self.prog} --help')"
        _fail(f"{message}{hint}", code=2)


def _fail(message: str, code: int = 1) -> NoReturn:
    raise SystemExit(_print_error(message, code))


def _print_error(message: str, code: int) -> int:
    line = " ".join(str(message).split())  # one line, whatever the message held
    print(f"galgate: error: {line}", file=sys.stderr)
    return code


def _address(value: str) -> str:
    """A HOST:PORT gateway address (IPv6 hosts in brackets)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def _add_remote(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--server/--token/--tls: run the command through a gateway's gRPC API."""
    parser.add_argument(
        "--server",
        type=_address,
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


def _sqlite_url(value: str) -> str:
    """Accept a SQLAlchemy URL, or a plain file path meaning an embedded SQLite database."""
    return value if "://" in value else f"sqlite+aiosqlite:///{value}"


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; defaults for --db and --actor come from ``environ``."""
    environ = os.environ if environ is None else environ
    default_db = environ.get("GALGATE_DB_URL") or DEFAULT_DB
    default_actor = environ.get("USER") or environ.get("USERNAME") or _login_name()

    def add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
        def default(value: object) -> object:
            return argparse.SUPPRESS if suppress else value

        parser.add_argument(
            "--db",
            type=_sqlite_url,
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

    root = _Parser(
        prog="galgate",
        description="Manage the galgate model registry: register ONNX-converted models, "
        "move versions between stages, read the audit trail.",
    )
    add_common(root, suppress=False)
    common = _Parser(add_help=False)
    add_common(common, suppress=True)
    remote = _Parser(add_help=False)  # admin commands: the local --db or a --server
    _add_remote(remote, required=False)
    remote_only = _Parser(add_help=False)  # commands only a running gateway can answer
    _add_remote(remote_only, required=True)
    commands = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    reg = commands.add_parser(
        "register",
        parents=[common, remote],
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
    models_cmd.add_parser(
        "list", parents=[common, remote], help="every model and its production version"
    )
    show = models_cmd.add_parser(
        "show", parents=[common, remote], help="a model's versions, or one version"
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument("version", metavar="VERSION", nargs="?", default=None)

    stages = [stage.value for stage in Stage]
    promote = commands.add_parser(
        "promote", parents=[common, remote], help="move a version to a stage"
    )
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
        "rollback", parents=[common, remote], help="put the previous production version back"
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--reason", default="")

    archive = commands.add_parser("archive", parents=[common, remote], help="archive a version")
    archive.add_argument("name", metavar="NAME")
    archive.add_argument("version", metavar="VERSION")
    archive.add_argument("--reason", default="")
    archive.add_argument("--force", action="store_true", help="archive even a production version")

    history = commands.add_parser(
        "history", parents=[common, remote], help="a model's stage changes"
    )
    history.add_argument("name", metavar="NAME")

    commands.add_parser(
        "status",
        parents=[common, remote_only],
        help="what a running gateway serves and what failed to load",
    )
    events = commands.add_parser(
        "events",
        parents=[common, remote_only],
        help="registry events seen by a running gateway",
        description="Print registry events with id > --after, oldest first. Without --follow "
        "the command prints the backlog and exits; with --follow it waits for new events "
        "(--json: one JSON object per line) until interrupted.",
    )
    events.add_argument(
        "--after", type=_event_id, default=0, metavar="ID", help="default 0: from the first"
    )
    events.add_argument("--follow", action="store_true", help="keep printing new events")

    predict = commands.add_parser(
        "predict",
        parents=[common, remote_only],
        help="ask a running gateway for a prediction",
        description="Call galgate.v1.PredictionService/Predict. --features sends one row of "
        "named values; --rows sends every row of a CSV/NPZ file as a packed float32 tensor, "
        "its columns (less --target) in the model's feature order.",
    )
    predict.add_argument("--model", required=True, help="model name")
    given = predict.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--features", type=_feature_values, metavar="NAME=VALUE,...", help="one named row"
    )
    given.add_argument("--rows", metavar="FILE", help="CSV (header row) or NPZ of feature rows")
    predict.add_argument(
        "--target", default=None, metavar="COL", help="a column of --rows to leave out"
    )
    predict.add_argument("--version", default="", help="serve exactly this version")
    predict.add_argument("--routing-key", default="", metavar="KEY", help="sticky A/B assignment")

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the gRPC gateway on the registry (settings also from GALGATE_* variables)",
    )
    serve.add_argument(
        "--listen", default=None, metavar="HOST:PORT", help="default 127.0.0.1:50051"
    )
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument(
        "--demo", action="store_true", default=None, help='register the "demo" model first'
    )
    serve.add_argument("--metrics-listen", default=None, metavar="HOST:PORT", help="Prometheus")

    commands.add_parser(
        "demo",
        parents=[common],
        help='register the demo classifier as "demo" and promote it to production',
    )
    _add_experiments(commands, [common, remote])
    return root


STRATEGIES = ("random", "weighted", "epsilon_greedy", "thompson_sampling")
METRICS = ("squared_error", "absolute_error", "accuracy", "reward")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# action -> (target state, past tense, help)
_MOVES = {
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


def _add_experiments(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """`experiments create|list|show|pause|resume|stop`."""
    experiments = commands.add_parser(
        "experiments", help="A/B experiments between two versions of a model"
    )
    actions = experiments.add_subparsers(
        dest="experiments_command", metavar="ACTION", parser_class=_Parser
    )
    actions.required = True
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
        "--split", type=_open_fraction, default=0.5, help="treatment's traffic share (weighted)"
    )
    create.add_argument(
        "--epsilon", type=_epsilon, default=0.1, help="exploration rate (epsilon_greedy)"
    )
    create.add_argument(
        "--metric",
        required=True,
        choices=METRICS,
        help="per-outcome metric: squared_error and absolute_error (lower is better), "
        "accuracy and reward (higher is better)",
    )
    create.add_argument(
        "--confidence", type=_open_fraction, default=0.95, help="of the tests (default 0.95)"
    )
    create.add_argument(
        "--mde",
        type=_non_negative,
        default=0.0,
        dest="min_detectable_effect",
        metavar="X",
        help="smallest difference worth detecting, in metric units (for the sample size)",
    )
    create.add_argument(
        "--min-samples",
        type=_positive_int,
        default=100,
        metavar="N",
        help="outcomes per arm before a winner is called (default 100)",
    )
    create.add_argument(
        "--max-loss",
        type=_positive,
        default=None,
        metavar="X",
        help="stop early when the treatment is significantly worse by more than X metric "
        "units (default: no limit)",
    )
    ends = create.add_mutually_exclusive_group()
    ends.add_argument(
        "--end-time",
        type=_end_time,
        default=None,
        metavar="ISO8601",
        help="complete it then; with a UTC offset, e.g. 2025-07-01T16:00:00Z",
    )
    ends.add_argument(
        "--duration",
        type=_duration,
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
    show.add_argument("id", type=_experiment_id, metavar="ID")
    for action, (_, _, about) in _MOVES.items():
        move = actions.add_parser(action, parents=parents, help=about)
        move.add_argument("id", type=_experiment_id, metavar="ID")
        move.add_argument("--reason", default="", help="recorded in the audit trail")


def _open_fraction(text: str) -> float:
    """A number strictly between 0 and 1 (argparse type)."""
    value = _finite(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _epsilon(text: str) -> float:
    """An exploration rate in (0, 1]: 0 would mean "default" on the wire."""
    value = _finite(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _finite(text)
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _experiment_id(text: str) -> int:
    """An experiment id as `experiments list` shows it (argparse type)."""
    if not text.isdigit() or int(text) < 1 or int(text) >= 2**63:
        raise argparse.ArgumentTypeError(f"expected an experiment id (1 or more), got {text!r}")
    return int(text)


def _end_time(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset (argparse type); naive times are ambiguous."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2025-07-01T16:00:00Z, got {text!r}"
        ) from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"give the time with a UTC offset (Z or +HH:MM), got {text!r}"
        )
    return value.astimezone(UTC)


def _duration(text: str) -> timedelta:
    """A time span such as 90m, 2h, 1.5d or 1h30m (argparse type).

    >>> _duration("1h30m"), _duration("2d")
    (datetime.timedelta(seconds=5400), datetime.timedelta(days=2))
    """
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text.strip().lower())
    rebuilt = "".join(number + unit for number, unit in parts)
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not parts or rebuilt != text.strip().lower() or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a span such as 90m, 2h or 1d12h (units s, m, h, d, w), got {text!r}"
        )
    return timedelta(seconds=seconds)


def experiment_spec(args: argparse.Namespace, now: datetime | None = None) -> ExperimentSpec:
    """The ExperimentSpec of `experiments create` (--duration counts from ``now``)."""
    end_time = args.end_time
    if args.duration is not None:
        end_time = (now or datetime.now(UTC)) + args.duration
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


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): the audit still needs a name
        return "unknown"


def _event_id(text: str) -> int:
    """A registry event id, 0 or more (argparse type)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an event id (0 or more), got {text!r}")
    return int(text)


def _feature_values(text: str) -> dict[str, float]:
    """Parse --features 'a=1,b=2.5' into a mapping (argparse type)."""
    values: dict[str, float] = {}
    for pair in text.split(","):
        key, sep, raw = pair.strip().partition("=")
        key = key.strip()
        try:
            if not sep or not key:
                raise ValueError
            values[key] = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected NAME=NUMBER[,NAME=NUMBER...], got {pair.strip()!r}"
            ) from None
    return values


def _parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--tag expects KEY=VALUE, got {pair!r}", code=2)
        tags[key] = value
    return tags


def _estimator_features(model: Any) -> list[str] | None:
    """The feature names an estimator was fitted with, when it recorded real names."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        try:  # xgboost's sklearn API: the booster keeps the names it was fitted with
            names = model.get_booster().feature_names
        except Exception:
            names = None
    if names is None:
        names = getattr(model, "feature_name_", None)  # lightgbm; Column_<i> when unnamed
        if names is not None and all(str(n) == f"Column_{i}" for i, n in enumerate(names)):
            names = None
    return [str(n) for n in names] if names is not None else None


def prepare_from_files(args: argparse.Namespace) -> PreparedVersion:
    """Load MODEL_FILE and --data and build the version to upload (conversion runs here)."""
    model_path, data_path = Path(args.model_file), Path(args.data)
    for label, path in (("model file", model_path), ("data file", data_path)):
        if not path.is_file():
            raise CliError(f"{label} {str(path)!r} not found")
    from converters.data import load_table
    from gateway.registration import prepare_estimator, prepare_onnx

    common = {"tags": args.tags, "description": args.description, "target": args.target or ""}
    if model_path.suffix.lower() == ".onnx":
        onnx_bytes = model_path.read_bytes()
        table = _onnx_table(onnx_bytes, data_path, args.target)
        return prepare_onnx(onnx_bytes, table.X, feature_names=table.feature_names, **common)
    model = _load_estimator(model_path)
    table = load_table(data_path, target=args.target, features=_estimator_features(model))
    return prepare_estimator(model, table.X, table.y, feature_names=table.feature_names, **common)


def _onnx_table(onnx_bytes: bytes, data_path: Path, target: str | None) -> Table:
    """The data's feature columns for an ONNX model: the features its embedded signature
    names, in that order, when the file has them; else every column but the target."""
    from converters import DataError, load_table, validate_onnx

    features = validate_onnx(onnx_bytes).features  # raises InvalidOnnxError for garbage
    try:
        return load_table(data_path, target=target, features=features)
    except DataError:
        return load_table(data_path, target=target)


def _load_estimator(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling can fail in any way: report it as one line
        raise CliError(
            f"cannot load estimator from {str(path)!r} ({type(exc).__name__}: {exc}); "
            "expected a joblib/pickle file of a fitted estimator or an .onnx file"
        ) from exc


async def run_command(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one parsed command against a backend; returns what to print (as text or JSON)."""
    command = args.command
    if command == "register":
        prepared = await asyncio.to_thread(prepare_from_files, args)
        version = await backend.register(
            args.name, prepared, version=args.version, actor=args.actor, reason=args.reason
        )
        return {"version": version, "parity": prepared.parity}
    if command == "models" and args.models_command == "list":
        return await backend.list_models()
    if command == "models":
        if args.version is None:
            return await backend.get_model(args.name)
        return await backend.get_version(args.name, args.version)
    if command == "promote":
        return await backend.promote(
            args.name,
            args.version,
            Stage(args.stage),
            actor=args.actor,
            reason=args.reason,
            force=args.force,
        )
    if command == "rollback":
        return await backend.rollback(args.name, actor=args.actor, reason=args.reason)
    if command == "archive":
        return await backend.archive(
            args.name, args.version, actor=args.actor, reason=args.reason, force=args.force
        )
    if command == "history":
        return await backend.history(args.name)
    if command == "demo":
        version = await backend.demo(actor=args.actor)
        return {"created": version is not None, "version": version}
    if command == "experiments":
        return await _run_experiments(args, backend)
    if command in ("status", "events", "predict"):
        return await _run_remote_only(args, _remote(backend))
    raise CliError(f"unknown command {command!r}")


async def _run_experiments(args: argparse.Namespace, backend: Backend) -> Any:
    action = args.experiments_command
    if action == "create":
        spec = experiment_spec(args)
        return await backend.create_experiment(spec, actor=args.actor, start=not args.create_only)
    if action == "list":
        state = ExperimentState(args.state) if args.state else None
        return await backend.list_experiments(model=args.model, state=state)
    if action == "show":
        return await backend.experiment_report(args.id)
    to = _MOVES[action][0]
    return await backend.move_experiment(args.id, to, actor=args.actor, reason=args.reason)


def _render_experiments(args: argparse.Namespace, result: Any) -> str:
    action = args.experiments_command
    if action == "create":
        return render_experiment_created(result, remote=bool(getattr(args, "server", None)))
    if action == "list":
        return render_experiments(result)
    if action == "show":
        return render_experiment_report(result)
    return render_experiment_moved(result, _MOVES[action][1])


def _remote(backend: Backend) -> RemoteBackend:
    from gateway.cli_remote import RemoteBackend

    if not isinstance(backend, RemoteBackend):
        raise CliError("this command needs a running gateway: pass --server HOST:PORT")
    return backend


async def _run_remote_only(args: argparse.Namespace, backend: RemoteBackend) -> Any:
    if args.command == "status":
        return await backend.status()
    if args.command == "events":
        return list(backend.events(args.after))
    if args.rows is None:
        return await backend.predict(
            args.model, features=args.features, version=args.version, routing_key=args.routing_key
        )
    from converters.data import load_table

    table = await asyncio.to_thread(load_table, args.rows, target=args.target)
    return await backend.predict(
        args.model, rows=table.X, version=args.version, routing_key=args.routing_key
    )


def render(args: argparse.Namespace, result: Any) -> str:
    """Human-readable text for a command's result."""
    command = args.command
    if command == "register":
        return render_registered(result["version"], result["parity"])
    if command == "models" and args.models_command == "list":
        return render_models(result)
    if command == "models":
        return render_model(result) if args.version is None else render_version(result)
    if command == "history":
        return render_history(args.name, result)
    if command == "status":
        return render_status(result)
    if command == "events":
        return render_events(result, args.after)
    if command == "predict":
        return render_prediction(result)
    if command == "experiments":
        return _render_experiments(args, result)
    if command == "demo":
        if result["created"]:
            v = result["version"]
            return f"registered {v.name} {v.version} and promoted it to {v.stage.value}"
        return 'model "demo" already exists; nothing changed'
    verb = {"promote": "moved", "rollback": "rolled back", "archive": "archived"}[command]
    v = result
    return f"{verb} {v.name} {v.version}: now {v.stage.value}"


def _db_reason(exc: BaseException) -> str:
    """The driver's own words for a database failure, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).split("\n")[0]
    return text.split(" (Background on this error")[0] or type(exc).__name__


def remote_target(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> RemoteTarget:
    """The gateway to call for --server: address, token (--token, else $GALGATE_TOKEN), TLS."""
    from gateway.cli_remote import RemoteTarget

    environ = os.environ if environ is None else environ
    token = args.token if args.token is not None else environ.get("GALGATE_TOKEN", "")
    return RemoteTarget(address=args.server, token=token, tls=args.tls)


async def _open_backend(args: argparse.Namespace) -> Backend:
    """The backend the commands run against: a gateway (--server) or the registry database."""
    from sqlalchemy.engine import make_url

    if getattr(args, "server", None):
        # grpc core logs connection failures (TLS handshakes...) at INFO on stderr; the
        # error line below already says what went wrong. Read once, when grpc loads.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        from gateway.cli_remote import RemoteBackend

        return await RemoteBackend.open(remote_target(args))

    try:
        return await LocalBackend.open(args.db)
    except RegistryError:
        raise
    except Exception as exc:
        try:
            shown = make_url(args.db).render_as_string(hide_password=True)
        except Exception:
            shown = "(unparsable URL)"
        raise CliError(f"cannot open database {shown}: {_db_reason(exc)}") from exc


async def _main_async(args: argparse.Namespace) -> str:
    backend = await _open_backend(args)
    try:
        result = await run_command(args, backend)
    finally:
        await backend.close()
    if args.json:
        return json.dumps(to_plain(result), indent=2, sort_keys=True)
    return render(args, result)


def _follow_events(args: argparse.Namespace) -> int:
    """Print events as they arrive (JSON Lines with --json) until interrupted (exit 130).

    Runs without an event loop: asyncio.run would turn the first Ctrl-C into a
    cancellation that a blocking stream never sees.
    """
    from gateway.cli_remote import RemoteBackend

    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # see _open_backend
    backend = RemoteBackend.connect(remote_target(args))
    try:
        for event in backend.events(args.after, follow=True):
            plain = json.dumps(to_plain(event), sort_keys=True)
            print(plain if args.json else render_event(event), flush=True)
    except KeyboardInterrupt:
        return 130  # the usual way to stop following: no error line
    finally:
        backend.close_now()
    return 0


def _check_remote_flags(args: argparse.Namespace) -> None:
    """--token and --tls mean nothing without --server: say so rather than ignore them."""
    if getattr(args, "server", None) is not None:
        return
    if getattr(args, "token", None) is not None:
        _fail("--token needs --server HOST:PORT", code=2)
    if getattr(args, "tls", False):
        _fail("--tls needs --server HOST:PORT", code=2)


def _serve(args: argparse.Namespace) -> int:
    """Run the gateway in the foreground until SIGTERM/SIGINT (see gateway.serve)."""
    from gateway.config import ConfigError, Settings
    from gateway.serve import run

    try:
        settings = Settings.from_env(
            db_url=args.db, listen=args.listen, demo=args.demo, metrics_listen=args.metrics_listen
        )
    except ConfigError as exc:
        _fail(str(exc), code=2)
    return run(settings, workers=args.workers)


def _is_domain_error(exc: Exception) -> bool:
    """Registry, conversion and CLI errors: expected failures, reported without traceback."""
    if isinstance(exc, RegistryError | CliError):
        return True
    errors = sys.modules.get("converters.errors")  # raised only if converters was imported
    return errors is not None and isinstance(exc, errors.ConversionError)


def _show_warning(
    message: Warning | str, category: type[Warning], *_: object, **__: object
) -> None:
    """Library warnings as one 'galgate: warning:' line each, without source excerpts."""
    line = " ".join(str(message).split())
    print(f"galgate: warning: {category.__name__}: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `galgate` console script; returns the process exit code."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        # Parity and metrics feed numpy rows to estimators fitted on DataFrames: expected.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "register":
            args.tags = _parse_tags(args.tag)
        _check_remote_flags(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "events" and args.follow:
            return _follow_events(args)
        output = asyncio.run(_main_async(args))
    except SystemExit as exc:  # --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        return _print_error("interrupted", 130)
    except Exception as exc:
        if _is_domain_error(exc):
            # The registry speaks Python (force=True); the user typed flags.
            return _print_error(str(exc).replace("force=True", "--force"), 1)
        if type(exc).__module__.startswith("sqlalchemy"):
            return _print_error(f"database error: {_db_reason(exc)}", 1)
        if isinstance(exc, OSError) and exc.strerror:
            where = f": {exc.filename}" if exc.filename else ""
            return _print_error(f"{exc.strerror}{where}", 1)
        if os.environ.get("GALGATE_DEBUG"):
            raise
        return _print_error(f"{type(exc).__name__}: {exc} (set GALGATE_DEBUG=1 for a traceback)", 1)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
