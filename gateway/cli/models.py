"""`galgate register | models | promote | rollback | archive | history | demo`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli.backend import Backend
from gateway.cli.model_file import prepare_from_files
from gateway.cli.render import (
    render_history,
    render_model,
    render_models,
    render_registered,
    render_version,
)
from registry import Stage

COMMANDS = frozenset({"register", "models", "promote", "rollback", "archive", "history", "demo"})


async def run(args: argparse.Namespace, backend: Backend) -> Any:
    """Run one model command; returns what to print (as text or JSON)."""
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
    version = await backend.demo(actor=args.actor)
    return {"created": version is not None, "version": version}


def render(args: argparse.Namespace, result: Any) -> str:
    """Human-readable text for a model command's result."""
    command = args.command
    if command == "register":
        return render_registered(result["version"], result["parity"])
    if command == "models" and args.models_command == "list":
        return render_models(result)
    if command == "models":
        return render_model(result) if args.version is None else render_version(result)
    if command == "history":
        return render_history(args.name, result)
    if command == "demo":
        if result["created"]:
            v = result["version"]
            return f"registered {v.name} {v.version} and promoted it to {v.stage.value}"
        return 'model "demo" already exists; nothing changed'
    verb = {"promote": "moved", "rollback": "rolled back", "archive": "archived"}[command]
    return f"{verb} {result.name} {result.version}: now {result.stage.value}"
