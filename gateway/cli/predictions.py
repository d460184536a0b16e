"""`galgate predictions prune`: delete old rows of the prediction log (on --db)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.backend import Backend, CliError, LocalBackend

COMMANDS = frozenset({"predictions"})


async def run(args: argparse.Namespace, backend: Backend) -> Any:
    """Prune predictions and outcomes older than ``--older-than``."""
    if not isinstance(backend, LocalBackend):
        raise CliError("predictions prune works on the registry database (--db)")
    pruned = await backend.prune_log(args.older_than, batch_size=args.batch_size)
    return {"predictions": pruned.predictions, "outcomes": pruned.outcomes}


def render(args: argparse.Namespace, result: Any) -> str:
    """One line: what went."""
    return (
        f"deleted {result['predictions']} predictions and {result['outcomes']} outcomes "
        f"older than {args.older_than} (rows of running and paused experiments kept)"
    )
