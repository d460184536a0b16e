"""The ``galgate`` command line: one module per command group, thin over the use-case
layer (``--db``) or a gateway's ModelAdmin API (``--server``)."""

from gateway.cli.main import main

__all__ = ["main"]
