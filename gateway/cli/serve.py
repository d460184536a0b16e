"""`galgate serve`: run the gateway in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from gateway.cli.errors import fail


def serve(args: argparse.Namespace) -> int:
    """Check the settings (exit 2 on a bad one), then run (see gateway.server.process)."""
    from gateway.config import ConfigError, Settings
    from gateway.errors import ListenError
    from gateway.server.process import run
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
