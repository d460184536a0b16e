"""`galgate status | events | predict`: commands against a live gateway (``--server``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from gateway.cli.backend import Backend, CliError
from gateway.cli.remote import RemoteBackend, RemoteTarget
from gateway.cli.render import (
    render_event,
    render_events,
    render_prediction,
    render_status,
    to_plain,
)


def connect(args: argparse.Namespace) -> RemoteBackend:
    """Connect to the --server gateway (blocking); the token is --token, else $GALGATE_TOKEN."""
    token = args.token if args.token is not None else os.environ.get("GALGATE_TOKEN", "")
    return RemoteBackend.connect(RemoteTarget(address=args.server, token=token, tls=args.tls))


async def run(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one gateway command; returns what to print."""
    if not isinstance(backend, RemoteBackend):
        raise CliError("this command needs a running gateway: pass --server HOST:PORT")
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
    """Human-readable text for a gateway command's result."""
    if args.command == "status":
        return render_status(result)
    if args.command == "events":
        return render_events(result, args.after)
    return render_prediction(result)


def follow_events(args: argparse.Namespace) -> int:
    """Print events as they arrive (JSON Lines with --json) until interrupted (exit 130).

    Runs without an event loop: asyncio.run would turn the first Ctrl-C into a
    cancellation that a blocking stream never sees.
    """
    backend = connect(args)
    try:
        for event in backend.events(args.after, follow=True):
            plain = json.dumps(to_plain(event), sort_keys=True)
            print(plain if args.json else render_event(event), flush=True)
    except KeyboardInterrupt:
        return 130  # the usual way to stop following: no error line
    finally:
        backend.close_now()
    return 0
