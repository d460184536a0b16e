"""Shared fixtures: a registry database URL on SQLite and on PostgreSQL, and an open Registry.

PostgreSQL: one fresh database ``galgate_t_<hex>`` per test session on the server at
``GALGATE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), emptied
before each test and dropped at the end. Set ``GALGATE_TEST_PG_URL=skip`` to skip the
PostgreSQL half of the suite on a machine without a server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from registry.store.registry import Registry

DEFAULT_PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a private loop in a worker thread.

    Sync fixtures use this so they never touch the event loop pytest-asyncio gives a test.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fn()).result()


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _create_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def _empty_database(url: str) -> None:
    """Empty every table and restart every sequence (cheaper than recreating the database
    for each test, and DELETE of a few rows is cheaper than TRUNCATE)."""
    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        # A registry a test forgot to close must not block the deletes.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        sequences = await conn.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        )
        async with conn.transaction():
            # Foreign keys are not checked while the tables empty in any order.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                await conn.execute(f'DELETE FROM public."{table["tablename"]}"')
            for sequence in sequences:
                await conn.execute(f'ALTER SEQUENCE public."{sequence["sequencename"]}" RESTART')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of a database on the PostgreSQL server used to create test databases."""
    url = os.environ.get("GALGATE_TEST_PG_URL", DEFAULT_PG_SERVER)
    if url == "skip":
        pytest.skip("GALGATE_TEST_PG_URL=skip: PostgreSQL tests disabled")
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its plain URL."""
    name = f"galgate_t_{secrets.token_hex(6)}"
    _run(lambda: _create_database(pg_server_url, name))
    try:
        yield _asyncpg_dsn(pg_server_url, name)
    finally:
        _run(lambda: _drop_database(pg_server_url, name))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'galgate.db'}"
    url: str = request.getfixturevalue("pg_database")
    _run(lambda: _empty_database(url))
    return url


@pytest.fixture
async def registry(db_url: str) -> AsyncIterator[Registry]:
    """A Registry opened on ``db_url``, closed after the test."""
    reg = await Registry.open(db_url)
    try:
        yield reg
    finally:
        await reg.close()
