"""How the `galgate` CLI reports failures: one 'galgate: …' line on stderr and an exit code."""

from __future__ import annotations

import sys
from typing import NoReturn

from gateway.cli.backend import CliError
from gateway.errors import GatewayError
from registry import RegistryError


def _one_line(text: object) -> str:
    """``text`` on one line, whatever line breaks and runs of spaces it held.

    >>> _one_line("a\\n  b")
    'a b'
    """
    return " ".join(str(text).split())


def print_error(message: str, code: int) -> int:
    """Print ``galgate: error: <message>`` on one line to stderr; returns ``code``."""
    print(f"galgate: error: {_one_line(message)}", file=sys.stderr)
    return code


def fail(message: str, code: int = 1) -> NoReturn:
    """Print the error line and exit with ``code`` (raises SystemExit)."""
    raise SystemExit(print_error(message, code))


def show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Library warnings as one 'galgate: warning:' line each, without source excerpts."""
    print(f"galgate: warning: {category.__name__}: {_one_line(message)}", file=sys.stderr)


def db_reason(exc: BaseException) -> str:
    """The driver's own words for a database failure, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).split("\n")[0]
    return text.split(" (Background on this error")[0] or type(exc).__name__


def _is_domain_error(exc: Exception) -> bool:
    """Registry, gateway (e.g. a version that cannot serve), conversion and CLI errors:
    expected failures, reported without traceback."""
    if isinstance(exc, RegistryError | GatewayError | CliError):
        return True
    errors = sys.modules.get("converters.errors")  # raised only if converters was imported
    return errors is not None and isinstance(exc, errors.ConversionError)


def report_expected(exc: Exception) -> int | None:
    """Print the error line of an expected failure and return its exit code (1).

    Returns None, printing nothing, for an unexpected exception (a bug).
    """
    if _is_domain_error(exc):
        # The registry speaks Python (force=True); the user typed flags.
        return print_error(str(exc).replace("force=True", "--force"), 1)
    if type(exc).__module__.startswith("sqlalchemy"):
        return print_error(f"database error: {db_reason(exc)}", 1)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return print_error(f"{exc.strerror}{where}", 1)
    return None
