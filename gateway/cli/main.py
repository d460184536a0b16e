"""The `galgate` command line: main(), the backend a command runs against, dispatch to the
command groups (models, experiments, gateway, serve), exit codes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.cli import health, models, predictions
from gateway.cli.backend import Backend, CliError, LocalBackend
from gateway.cli.errors import db_reason, print_error, report_expected, show_warning
from gateway.cli.experiments import render_experiments_result, run_experiments
from gateway.cli.parser import parse_args
from gateway.cli.render import to_plain
from registry import RegistryError, StorageFullError, UnavailableError

if TYPE_CHECKING:
    from gateway.cli.remote import RemoteBackend


# Commands that need a running gateway (gateway.cli.live, imported only for them: grpc).
LIVE_COMMANDS = frozenset({"status", "events", "predict"})


async def run_command(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one parsed command against a backend; returns what to print (as text or JSON)."""
    if args.command in models.COMMANDS:
        return await models.run(args, backend)
    if args.command == "experiments":
        return await run_experiments(args, backend)
    if args.command in LIVE_COMMANDS:
        from gateway.cli import live

        return await live.run(args, backend)
    if args.command in predictions.COMMANDS:
        return await predictions.run(args, backend)
    if args.command in health.COMMANDS:
        return await health.run(args, backend)
    raise CliError(f"unknown command {args.command!r}")


def render(args: argparse.Namespace, result: Any) -> str:
    """Human-readable text for a command's result."""
    if args.command == "experiments":
        return render_experiments_result(args, result)
    if args.command in LIVE_COMMANDS:
        from gateway.cli import live

        return live.render(args, result)
    if args.command in predictions.COMMANDS:
        return predictions.render(args, result)
    if args.command in health.COMMANDS:
        return health.render(args, result)
    return models.render(args, result)


def _connect(args: argparse.Namespace) -> RemoteBackend:
    # grpc core logs connection failures (TLS handshakes...) at INFO on stderr; the
    # error line already says what went wrong. Read once, when grpc loads.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from gateway.cli import live

    return live.connect(args)


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
            from gateway.cli.serve import serve

            return serve(args)
        if args.command == "events" and args.follow:
            os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
            from gateway.cli import live

            return live.follow_events(args)
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
