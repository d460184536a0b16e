"""PostgreSQL NOTIFY wakes a gateway at once, without waiting for its poll interval."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.config import Settings
from gateway.server.app import build_server
from registry.entities import Stage
from registry.store.registry import Registry
from tests.gateway.conftest import publish, register


async def test_postgres_notify_wakes_a_slow_polling_gateway(pg_database, trained):
    from tests.conftest import _empty_database

    await _empty_database(pg_database)
    writer = await Registry.open(pg_database)
    reader = await Registry.open(pg_database)
    # Poll once a minute: only the notification can make the swap fast.
    gw = build_server(Settings(listen="127.0.0.1:0", poll_interval=60), reader)
    try:
        await publish(writer, "clf", trained.clf_a, trained.X)
        await register(writer, "clf", trained.clf_b, trained.X)
        await writer.transition("clf", "1.0.1", Stage.STAGING, actor="test")
        await gw.start()
        assert gw.pool.current.route("clf").model.version == "1.0.0"
        await asyncio.sleep(0.5)  # the listener connects
        await writer.transition("clf", "1.0.1", Stage.PRODUCTION, actor="elsewhere")
        started = time.perf_counter()
        while gw.pool.current.route("clf").model.version != "1.0.1":
            assert time.perf_counter() - started < 5, "no NOTIFY-driven swap"
            await asyncio.sleep(0.01)
    finally:
        await gw.stop(grace=0)
        await writer.close()
        await reader.close()


@pytest.mark.parametrize("url", ["postgresql://u:pw@h:5432/db", "postgres+asyncpg://h/db"])
def test_asyncpg_dsn_is_plain_libpq(url):
    from gateway.serving.notify import asyncpg_dsn

    assert asyncpg_dsn(url).startswith("postgresql://")
