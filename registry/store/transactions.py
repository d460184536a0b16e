"""The contract the Registry's store mixins build on: one write or read transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Store(Protocol):
    """What every store mixin needs from the class that composes it (the Registry).

    Each public store method opens exactly one of these transactions.
    """

    def _write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """Open one write transaction; DB errors become registry errors.

        Returns:
            A context manager yielding the session; it commits on normal exit.

        Raises:
            ConflictError: a constraint was violated or the database stayed locked.
            InvalidArgumentError: a string holds a NUL character (PostgreSQL).
        """
        ...

    def _read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """Open one read transaction (a single snapshot).

        Returns:
            A context manager yielding the session.

        Raises:
            InvalidArgumentError: a looked-up string holds a NUL character (PostgreSQL).
        """
        ...
