"""Fixtures of the fault suite: the iteration scale, a private PostgreSQL cluster, and a
registry database (SQLite file or private-cluster database) seeded with two versions.

``GALGATE_FAULT_ITERATIONS`` (default 1, the CI amount) multiplies the repetitions of
the scenarios that repeat (kills at random instants, crash points);
``GALGATE_FAULT_SEED`` replays the kill instants of a failed run (its messages name the
seed). Run the suite alone with ``pytest -m faults tests/faults``; every test starts real
``galgate serve`` processes on ports the OS picks, on a SQLite file or on a private
PostgreSQL cluster (never the shared server, which must not be stopped).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from registry.entities import Stage
from registry.store.registry import Registry
from tests.faults.pgcluster import PgCluster
from tests.gateway.conftest import Trained, publish, register, trained

__all__ = ["trained"]  # the session's converted models, shared with tests/gateway

T = TypeVar("T")
MODEL = "clf"
# Production at start, and the staging version the promoter flips to.
V1, V2 = "1.0.0", "1.0.1"


def iterations() -> int:
    """GALGATE_FAULT_ITERATIONS as a positive integer (default 1)."""
    raw = os.environ.get("GALGATE_FAULT_ITERATIONS", "1")
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(
            f"GALGATE_FAULT_ITERATIONS must be an integer, got {raw!r}"
        ) from None
    if value < 1:
        raise pytest.UsageError(f"GALGATE_FAULT_ITERATIONS must be >= 1, got {value}")
    return value


def blocking(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a private loop in a worker thread (for sync fixtures)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fn()).result()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster for the session; tests may stop it but must restart it.

    ``GALGATE_TEST_PG_URL=skip`` leaves the PostgreSQL half out, as in the rest of the suite.
    """
    if os.environ.get("GALGATE_TEST_PG_URL") == "skip":
        pytest.skip("GALGATE_TEST_PG_URL=skip: PostgreSQL tests disabled")
    try:
        cluster = PgCluster()
    except (OSError, RuntimeError, KeyError) as exc:
        pytest.skip(f"cannot initialise a private PostgreSQL cluster: {exc}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """The private cluster, running; started again after the test if the test left it down."""
    pg_cluster.start()
    try:
        yield pg_cluster
    finally:
        pg_cluster.start()


@dataclass(frozen=True, slots=True)
class Database:
    """A registry database for one test."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    path: Path | None = None  # the SQLite file


def sqlite_database(directory: Path) -> Database:
    path = directory / "galgate.db"
    return Database("sqlite", f"sqlite+aiosqlite:///{path}", path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty registry database: a SQLite file, or a fresh database on the private cluster."""
    if request.param == "sqlite":
        return sqlite_database(tmp_path)
    cluster: PgCluster = request.getfixturevalue("pg")
    return Database("postgresql", blocking(cluster.create_database))


async def seed(url: str, trained: Trained) -> None:
    """clf 1.0.0 in production (GradientBoosting), clf 1.0.1 in staging (LogisticRegression)."""
    registry = await Registry.open(url)
    try:
        await publish(registry, MODEL, trained.clf_a, trained.X, version=V1)
        await register(registry, MODEL, trained.clf_b, trained.X, version=V2)
        await registry.transition(MODEL, V2, Stage.STAGING, actor="test")
    finally:
        await registry.close()


@pytest.fixture
async def seeded(database: Database, trained: Trained) -> Database:
    """``database`` with the two versions of clf."""
    await seed(database.url, trained)
    return database
