"""`galgate predictions prune`: delete old rows of the prediction log (on --db)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from gateway.cli.backend import LocalBackend

COMMANDS = frozenset({"predictions"})


async def run(args: argparse.Namespace, backend: LocalBackend) -> Any:
    """Prune predictions and outcomes older than ``--older-than`` (the command takes no
    --server, so the backend is always the registry database)."""
    pruned = await backend.prune_log(args.older_than, batch_size=args.batch_size)
    return {"predictions": pruned.predictions, "outcomes": pruned.outcomes}


def render(args: argparse.Namespace, result: Any) -> str:
    """One line: what went."""
    return (
        f"deleted {result['predictions']} predictions and {result['outcomes']} outcomes "
        f"older than {span(args.older_than)} (rows of running and paused experiments kept)"
    )


def span(value: timedelta) -> str:
    """A time span the way --older-than takes it.

    >>> span(timedelta(days=7)), span(timedelta(hours=36, minutes=5)), span(timedelta(0.5 / 86400))
    ('7d', '1d12h5m', '0.5s')
    """
    seconds, parts = int(value.total_seconds()), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or f"{value.total_seconds():g}s"
