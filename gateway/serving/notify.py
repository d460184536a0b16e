"""Wake the reconciler on PostgreSQL NOTIFY from the registry (polling stays as fallback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from registry.db import normalize_url
from registry.sql.events import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


def asyncpg_dsn(url: str) -> str:
    """A plain libpq DSN for asyncpg from a registry URL.

    >>> asyncpg_dsn("postgresql+asyncpg://u@127.0.0.1:5432/test")
    'postgresql://u@127.0.0.1:5432/test'
    """
    parsed = normalize_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


async def listen(url: str, on_event: Callable[[], None], *, retry_seconds: float = 1.0) -> None:
    """Call ``on_event`` for every registry NOTIFY; reconnect after a lost connection.

    Runs until cancelled. Missed notifications are harmless: the reconciler is
    level-triggered and also polls the events table.
    """
    dsn = asyncpg_dsn(url)
    failing = ""  # the last failure logged: an outage is reported once, not every retry
    while True:
        conn = None
        try:
            conn = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_args: on_event())
            failing = ""
            on_event()  # catch up on anything committed while we were not listening
            await lost.wait()
            log.warning("registry notification connection lost; reconnecting")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if str(exc) != failing:
                failing = str(exc)
                log.warning("registry notifications unavailable (%s); polling only", exc)
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()
        await asyncio.sleep(retry_seconds)
