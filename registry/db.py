"""Engines for the registry database: URL rewriting, SQLite pragmas, write locking, dialect
differences, schema."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table, event, inspect, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from registry.errors import (
    InvalidArgumentError,
    RegistryError,
    SchemaMismatchError,
    StorageFullError,
    StoredDataError,
    UnavailableError,
)
from registry.schema import SCHEMA_VERSION, Base, MetaRow
from registry.schema.predictions import DEFAULT_PARTITION, partitioned_predictions_table

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
SQLITE_BUSY_TIMEOUT_MS = 5000
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

# The meta row holding the hex key gateways sign prediction ids with.
PREDICTION_ID_KEY = "prediction_id_key"

# pg_advisory_xact_lock keys ("galgate" in ASCII plus a tag); held until commit.
_SCHEMA_LOCK = 0x67616C67617465_00
EVENT_LOCK = 0x67616C67617465_01


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines one Registry uses.

    ``writer`` begins every transaction ``BEGIN IMMEDIATE`` on SQLite and has a single
    connection, so writes of one process queue in the pool instead of fighting for the
    file lock. ``reader`` begins deferred transactions on SQLite and runs REPEATABLE READ
    on PostgreSQL, so a multi-statement read sees one snapshot. On PostgreSQL both share
    one pool; for ``:memory:`` SQLite both are the same single-connection engine.
    """

    url: URL
    dialect: str
    writer: AsyncEngine
    reader: AsyncEngine

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.writer.dispose()
        if self.reader.sync_engine.pool is not self.writer.sync_engine.pool:
            await self.reader.dispose()


def normalize_url(url: str | URL) -> URL:
    """Rewrite a SQLite or PostgreSQL URL to its async driver.

    Args:
        url: e.g. ``sqlite:///x.db``, ``sqlite+aiosqlite:///x.db``, ``postgresql://h/db``,
            ``postgres://h/db``, ``postgresql+asyncpg://h/db``.

    Returns:
        The URL with driver ``sqlite+aiosqlite`` or ``postgresql+asyncpg``.

    Raises:
        InvalidArgumentError: not a SQLite or PostgreSQL URL.

    >>> normalize_url("sqlite:///x.db").render_as_string()
    'sqlite+aiosqlite:///x.db'
    >>> normalize_url("postgres://u:pw@h:5432/db").render_as_string(hide_password=False)
    'postgresql+asyncpg://u:pw@h:5432/db'
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidArgumentError(
            f"cannot parse database URL {str(url)!r}; expected e.g. "
            "'sqlite+aiosqlite:///galgate.db' or 'postgresql+asyncpg://user@host/db'"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername=SQLITE_DRIVER)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername=POSTGRES_DRIVER)
    raise InvalidArgumentError(
        f"unsupported database {backend!r} in URL; expected sqlite or postgresql"
    )


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") and not url.query.get("uri")


def _sqlite_hooks(engine: AsyncEngine, begin: str, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so our BEGIN is the only one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def create_engines(url: str | URL, *, sqlite_synchronous: str = "NORMAL") -> Engines:
    """Create the engines for ``url`` (rewritten to an async driver).

    Args:
        url: database URL, see :func:`normalize_url`.
        sqlite_synchronous: SQLite ``PRAGMA synchronous``; NORMAL survives process crashes
            in WAL mode, FULL also survives power loss.

    Returns:
        The writer and reader engines.

    Raises:
        InvalidArgumentError: unsupported URL or ``sqlite_synchronous`` value.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "postgresql":
        writer = create_async_engine(parsed, pool_pre_ping=True)
        reader = writer.execution_options(isolation_level="REPEATABLE READ")
        return Engines(parsed, "postgresql", writer, reader)

    synchronous = sqlite_synchronous.upper()
    if synchronous not in _SYNCHRONOUS:
        raise InvalidArgumentError(
            f"sqlite_synchronous {sqlite_synchronous!r} is not one of {', '.join(_SYNCHRONOUS)}"
        )
    single = dict(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
    writer = create_async_engine(parsed, **single)
    _sqlite_hooks(writer, "BEGIN IMMEDIATE", synchronous)
    if _is_memory(parsed):
        # One connection holds the whole database: readers must share it.
        return Engines(parsed, "sqlite", writer, writer)
    reader = create_async_engine(parsed, pool_size=4, max_overflow=4)
    _sqlite_hooks(reader, "BEGIN", synchronous)
    return Engines(parsed, "sqlite", writer, reader)


async def lock_for_ordering(conn: AsyncConnection, key: int = EVENT_LOCK) -> None:
    """On PostgreSQL, take a transaction-scoped advisory lock; on SQLite do nothing.

    Sequence values are handed out at insert time but become visible at commit, so two
    concurrent writers could commit ids out of order and a reader tailing by id would skip
    one. Holding this lock from the insert to the commit makes ids commit-ordered. SQLite
    needs nothing: ``BEGIN IMMEDIATE`` already admits one writer at a time.

    Args:
        conn: a connection inside a write transaction.
        key: the lock key.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def insert_ignoring(session: AsyncSession, table: Table | type[Any], key: str) -> Insert:
    """``INSERT INTO table ... ON CONFLICT (key) DO NOTHING`` for the session's dialect.

    Args:
        session: the session the statement will run in.
        table: a Table or a mapped class.
        key: the unique column whose conflict is ignored.

    Returns:
        The statement; add ``.values(...)`` or execute it with a list of parameters.
    """
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=[key])


def violated_constraint(exc: IntegrityError) -> str:
    """Best-effort name of the constraint or index ``exc`` violated, for choosing a message.

    PostgreSQL names it (asyncpg's ``constraint_name``); SQLite only says which columns,
    so there the message itself is returned, e.g. ``UNIQUE constraint failed: t.c``.
    """
    orig = exc.orig
    name = getattr(getattr(orig, "__cause__", None), "constraint_name", None)
    return name or getattr(orig, "constraint_name", None) or str(orig)


# SQLSTATE classes and codes (PostgreSQL) that mean "the database is not usable now".
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53", "40001", "40P01", "55P03")
_DISK_FULL_STATE = "53100"
_OUT_OF_RANGE_STATE = "22003"
_DATA_EXCEPTION_CLASS = "22"  # SQLSTATE class 22: data exception
# SQLite reports its conditions in the message only.
_SQLITE_FULL = ("database or disk is full", "disk is full")
_SQLITE_UNAVAILABLE = ("locked", "busy", "disk i/o error", "unable to open", "readonly")


def translate_error(exc: BaseException, *, writing: bool) -> RegistryError | None:
    """The registry error a database failure stands for, or None to let it propagate.

    Connection failures, shutdowns, locks held past the busy timeout and transient
    conflicts become ``UnavailableError`` (retry later), a full disk ``StorageFullError``,
    a number out of range ``InvalidArgumentError`` on a write and ``StoredDataError`` on a
    read, a NUL in text and any other value PostgreSQL cannot store (SQLSTATE class 22)
    ``InvalidArgumentError`` on a write.

    >>> type(translate_error(ConnectionRefusedError(111, "refused"), writing=False)).__name__
    'UnavailableError'
    >>> translate_error(KeyError("x"), writing=True) is None
    True
    """
    if isinstance(exc, OSError | TimeoutError):  # refused, reset, unreachable, timed out
        return UnavailableError(f"the registry database is unreachable ({_brief(exc)}); retry")
    if not isinstance(exc, DBAPIError):
        return None
    state = str(getattr(exc.orig, "sqlstate", "") or "")
    text_ = str(exc.orig).lower()
    if state == "22021":  # PostgreSQL text cannot hold NUL; SQLite stores it
        return InvalidArgumentError(_NUL_MESSAGE)
    if state == _DISK_FULL_STATE or any(m in text_ for m in _SQLITE_FULL):
        return StorageFullError("the registry database is out of disk space; free space and retry")
    if state == _OUT_OF_RANGE_STATE:
        if writing:
            return InvalidArgumentError(f"a number is out of the database's range ({_brief(exc)})")
        return StoredDataError(f"stored values are out of range for this query ({_brief(exc)})")
    if writing and state.startswith(_DATA_EXCEPTION_CLASS):
        # A value the database cannot store (too long, malformed): no retry can fix it,
        # so a batch holding it must be refused, not retried for ever.
        return InvalidArgumentError(f"a value cannot be stored ({_brief(exc)})")
    if (
        exc.connection_invalidated
        or isinstance(exc, InterfaceError)
        or state.startswith(_UNAVAILABLE_STATES)
        or (not state and any(m in text_ for m in _SQLITE_UNAVAILABLE))
    ):
        return UnavailableError(
            f"the registry database is unavailable ({_brief(exc)}); retry shortly"
        )
    return None


def _brief(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text_ = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text_[:160]}" if text_ else type(orig).__name__


_NUL_MESSAGE = "text values must not contain NUL (\\x00) characters: PostgreSQL cannot store them"


def _create_missing_indexes(sync_conn: Connection) -> None:
    """Indexes added to tables that already exist (create_all only makes new tables)."""
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            index.create(sync_conn, checkfirst=True)


def _create_partitioned_log(sync_conn: Connection) -> None:
    """On PostgreSQL, create a new registry's ``predictions`` partitioned by day, with the
    DEFAULT partition that takes any row no day partition covers, so a write never fails
    for want of a partition. A table that exists already is left as it is: an
    unpartitioned one (made before partitioning) keeps its layout and its delete path.
    """
    if not inspect(sync_conn).has_table("predictions"):
        partitioned_predictions_table().create(sync_conn)
        sync_conn.exec_driver_sql(
            f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF predictions DEFAULT"
        )


def _has_meta(sync_conn: Connection) -> bool:
    return inspect(sync_conn).has_table(MetaRow.__tablename__)


async def ensure_schema(engines: Engines) -> int:
    """Create missing tables and stamp or check the schema version, in one transaction.

    Args:
        engines: the registry's engines.

    Returns:
        The schema version now stored.

    Raises:
        SchemaMismatchError: the stored version is newer than ``SCHEMA_VERSION``, older
            with no migration, or unreadable.
    """
    async with engines.writer.begin() as conn:
        await lock_for_ordering(conn, _SCHEMA_LOCK)  # concurrent first opens on PostgreSQL
        stored: int | None = None
        if await conn.run_sync(_has_meta):
            raw = await conn.scalar(select(MetaRow.value).where(MetaRow.key == "schema_version"))
            if raw is not None:
                try:
                    stored = int(raw)
                except ValueError:
                    raise SchemaMismatchError(
                        f"database schema version {raw!r} is not a number; this code "
                        f"expects schema version {SCHEMA_VERSION}"
                    ) from None
        if stored is not None and stored > SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"database schema version {stored} is newer than this code's schema version "
                f"{SCHEMA_VERSION}; upgrade galgate to open this database"
            )
        if stored is not None and stored < SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"database schema version {stored} is older than this code's schema version "
                f"{SCHEMA_VERSION} and no migration exists for it"
            )
        if engines.dialect == "postgresql":
            await conn.run_sync(_create_partitioned_log)
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(_create_missing_indexes)
        if stored is None:
            await conn.execute(
                MetaRow.__table__.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
            )
        key = await conn.scalar(select(MetaRow.value).where(MetaRow.key == PREDICTION_ID_KEY))
        if key is None:
            # Every gateway on this database signs prediction ids with this key, so any of
            # them can tell an id it issued from a forged one without a lookup.
            await conn.execute(
                MetaRow.__table__.insert().values(
                    key=PREDICTION_ID_KEY, value=secrets.token_hex(32)
                )
            )
        return SCHEMA_VERSION
