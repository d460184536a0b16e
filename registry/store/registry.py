"""The Registry: the public async API over the registry database (one transaction per call)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.db import (
    PREDICTION_ID_KEY,
    Engines,
    create_engines,
    ensure_schema,
    translate_error,
)
from registry.errors import ConflictError, SchemaMismatchError, UnavailableError
from registry.schema import MetaRow
from registry.store.alerts import AlertStore
from registry.store.catalog import CatalogStore
from registry.store.drift_reports import DriftReportStore
from registry.store.events import EventStore
from registry.store.experiments import ExperimentStore
from registry.store.log import LogStore
from registry.store.retraining import RetrainingStore
from registry.store.versions import VersionStore

DEFAULT_URL = "sqlite+aiosqlite:///galgate.db"
log = logging.getLogger(__name__)


class Registry(
    VersionStore,
    CatalogStore,
    EventStore,
    ExperimentStore,
    LogStore,
    AlertStore,
    DriftReportStore,
    RetrainingStore,
):
    """The model registry: versions, stages, artifacts, audit trail, events, experiments,
    the prediction log, and models' health (alerts, drift reports, retraining runs).

    Every public method runs in exactly one transaction and returns frozen entities.
    Writes begin ``IMMEDIATE`` on SQLite and lock the model row on PostgreSQL, so changes
    to one model are serialized; the at-most-one-production rule is also a partial unique
    index, so the database refuses a second production version whatever the code does.

    The methods live in one store mixin per concern (``registry/store/*.py``), each built
    on the :class:`registry.store.transactions.Store` contract that this class fulfils
    with :meth:`_write` and :meth:`_read`.
    """

    def __init__(self, engines: Engines) -> None:
        """Wrap already-prepared engines; use :meth:`open` instead."""
        self._engines = engines
        self._write_sessions = async_sessionmaker(
            engines.writer, expire_on_commit=False, autoflush=False
        )
        self._read_sessions = async_sessionmaker(
            engines.reader, expire_on_commit=False, autoflush=False
        )
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    async def open(cls, url: str = DEFAULT_URL, *, sqlite_synchronous: str = "NORMAL") -> Registry:
        """Open the registry database, creating the schema on first use.

        Args:
            url: SQLAlchemy URL; ``sqlite://`` and ``postgresql://`` are rewritten to the
                aiosqlite and asyncpg drivers.
            sqlite_synchronous: SQLite ``PRAGMA synchronous`` (NORMAL or FULL for power-loss
                durability); ignored on PostgreSQL. (SQL statements are logged by the
                ``sqlalchemy.engine`` logger at INFO.)

        Returns:
            An open Registry; call :meth:`close` when done (or use ``async with``).

        Raises:
            InvalidArgumentError: unsupported URL.
            SchemaMismatchError: the database was written by a newer schema version.
            UnavailableError: the database cannot be reached (retry later).
        """
        registry = cls.unopened(url, sqlite_synchronous=sqlite_synchronous)
        try:
            await registry.prepare()
        except BaseException:
            await registry.close()
            raise
        return registry

    @classmethod
    def unopened(cls, url: str = DEFAULT_URL, *, sqlite_synchronous: str = "NORMAL") -> Registry:
        """A registry on ``url`` that has not touched the database yet.

        A server that must come up while its database is down builds this, then retries
        :meth:`prepare` until it succeeds.

        Raises:
            InvalidArgumentError: unsupported URL.
        """
        return cls(create_engines(url, sqlite_synchronous=sqlite_synchronous))

    async def prepare(self) -> None:
        """Create the schema on first use and check its version (what :meth:`open` does).

        Raises:
            SchemaMismatchError: the database was written by a newer schema version.
            UnavailableError: the database cannot be reached (retry later).
        """
        try:
            await ensure_schema(self._engines)
        except (DBAPIError, OSError, TimeoutError) as exc:
            translated = translate_error(exc, writing=True)
            if translated is None:
                raise
            raise translated from exc
        if self._engines.dialect == "postgresql":
            try:
                await self.maintain_log()
            except UnavailableError as exc:
                # The DEFAULT partition takes the log's rows meanwhile; the gateway's
                # maintenance job makes the days on its next pass.
                log.warning("could not make the prediction log's day partitions now: %s", exc)

    async def prediction_id_key(self) -> bytes:
        """The secret key gateways on this database sign prediction ids with.

        Raises:
            UnavailableError: the database cannot be reached.
        """
        async with self._read() as session:
            value = await session.scalar(
                select(MetaRow.value).where(MetaRow.key == PREDICTION_ID_KEY)
            )
        if value is None:  # pragma: no cover - prepare() writes it
            raise SchemaMismatchError("the registry has no prediction id key; reopen it")
        return bytes.fromhex(value)

    async def close(self) -> None:
        """Close the database connections. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._engines.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database URL in use (async driver), with any password masked."""
        return self._engines.url.render_as_string(hide_password=True)

    def connect_url(self) -> str:
        """The database URL with its password, for companion connections (e.g. LISTEN)."""
        return self._engines.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engines.dialect

    # -- transactions --------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction; DB errors become registry errors (see translate_error)."""
        try:
            async with self._write_sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from exc
        except (DBAPIError, OSError, TimeoutError) as exc:
            translated = translate_error(exc, writing=True)
            if translated is None:
                raise
            raise translated from exc

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        """One read transaction (a single snapshot); DB errors become registry errors."""
        try:
            async with self._read_sessions() as session, session.begin():
                yield session
        except (DBAPIError, OSError, TimeoutError) as exc:
            translated = translate_error(exc, writing=False)
            if translated is None:
                raise
            raise translated from exc


__all__ = ["DEFAULT_URL", "Registry"]
