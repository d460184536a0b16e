"""The `galgate` command line: main(), dispatch of parsed commands, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.cli_backend import Backend, CliError, LocalBackend
from gateway.cli_errors import db_reason, fail, print_error, report_expected, show_warning
from gateway.cli_experiments import render_experiments_result, run_experiments
from gateway.cli_model_file import prepare_from_files
from gateway.cli_parser import parse_args
from gateway.cli_render import (
    render_event,
    render_events,
    render_history,
    render_model,
    render_models,
    render_prediction,
    render_registered,
    render_status,
    render_version,
    to_plain,
)
from registry import RegistryError, Stage, StorageFullError, UnavailableError

if TYPE_CHECKING:
    from gateway.cli_remote import RemoteBackend


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
        return await run_experiments(args, backend)
    if command in ("status", "events", "predict"):
        return await _run_remote_only(args, _remote(backend))
    raise CliError(f"unknown command {command!r}")


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
        return render_experiments_result(args, result)
    if command == "demo":
        if result["created"]:
            v = result["version"]
            return f"registered {v.name} {v.version} and promoted it to {v.stage.value}"
        return 'model "demo" already exists; nothing changed'
    verb = {"promote": "moved", "rollback": "rolled back", "archive": "archived"}[command]
    v = result
    return f"{verb} {v.name} {v.version}: now {v.stage.value}"


def _connect(args: argparse.Namespace) -> RemoteBackend:
    """Connect to the --server gateway (blocking); the token is --token, else $GALGATE_TOKEN."""
    # grpc core logs connection failures (TLS handshakes...) at INFO on stderr; the
    # error line already says what went wrong. Read once, when grpc loads.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from gateway.cli_remote import RemoteBackend, RemoteTarget

    token = args.token if args.token is not None else os.environ.get("GALGATE_TOKEN", "")
    return RemoteBackend.connect(RemoteTarget(address=args.server, token=token, tls=args.tls))


async def _open_backend(args: argparse.Namespace) -> Backend:
    """The backend the commands run against: a gateway (--server) or the registry database."""
    if getattr(args, "server", None):
        return _connect(args)
    try:
        return await LocalBackend.open(args.db)
    except (UnavailableError, StorageFullError) as exc:
        cause = exc.__cause__ or exc
        raise CliError(f"cannot open database {_masked(args.db)}: {db_reason(cause)}") from exc
    except RegistryError:
        raise
    except Exception as exc:
        raise CliError(f"cannot open database {_masked(args.db)}: {db_reason(exc)}") from exc


def _masked(url: str) -> str:
    """``url`` with its password shown as ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


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
    backend = _connect(args)
    try:
        for event in backend.events(args.after, follow=True):
            plain = json.dumps(to_plain(event), sort_keys=True)
            print(plain if args.json else render_event(event), flush=True)
    except KeyboardInterrupt:
        return 130  # the usual way to stop following: no error line
    finally:
        backend.close_now()
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Run the gateway in the foreground until SIGTERM/SIGINT (see gateway.serve)."""
    from gateway.config import ConfigError, Settings
    from gateway.errors import ListenError
    from gateway.serve import run
    from registry import crashpoints

    try:
        settings = Settings.from_env(
            db_url=args.db, listen=args.listen, demo=args.demo, metrics_listen=args.metrics_listen
        )
        crashpoints.load()
    except (ConfigError, ValueError) as exc:
        fail(str(exc), code=2)
    try:
        return run(settings, workers=args.workers)
    except ListenError as exc:
        fail(str(exc))


# The exit status of a command killed by SIGPIPE (128 + 13), as a shell reports it.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `galgate` console script; returns the process exit code."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        # Parity and metrics feed numpy rows to estimators fitted on DataFrames: expected.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        try:
            return _main(argv)
        except BrokenPipeError:
            # The reader went away (`galgate events --follow | head`): stop quietly, and
            # point stdout at /dev/null so the interpreter's final flush cannot fail too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = parse_args(argv)
        if args.command == "serve":
            return _serve(args)
        if args.command == "events" and args.follow:
            return _follow_events(args)
        output = asyncio.run(_main_async(args))
    except SystemExit as exc:  # --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        return print_error("interrupted", 130)
    except BrokenPipeError:
        raise  # main() ends quietly: the reader stopped reading
    except Exception as exc:
        code = report_expected(exc)
        if code is not None:
            return code
        if os.environ.get("GALGATE_DEBUG"):
            raise
        return print_error(f"{type(exc).__name__}: {exc} (set GALGATE_DEBUG=1 for a traceback)", 1)
    print(output, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
