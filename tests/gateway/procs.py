"""Run `galgate serve` as a real process for multi-process tests, and read the port it announces."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping

_SERVING = re.compile(rb"serving on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now (for ``--workers``, which needs one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def galgate_serve(
    db_url: str,
    *flags: str,
    listen: str = "127.0.0.1:0",
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """Start ``python -m gateway.cli serve --db DB_URL --listen LISTEN FLAGS``; yield (proc, port).

    The port is the one the process announces ("serving on 127.0.0.1:PORT"). With
    ``--workers`` the parent announces it before its workers listen: call with
    ``wait_for_ready``. The output (stdout and stderr) is read all along, so a chatty
    gateway never blocks on a full pipe, and it is in the error when the process exits
    before announcing; ``proc.output`` holds the lines read so far. On exit a process still
    running gets SIGTERM, and SIGKILL when it has not ended ``STOP_TIMEOUT`` seconds later.

    Args:
        db_url: the registry's URL.
        flags: more ``serve`` flags, e.g. ``"--workers", "2"``.
        listen: HOST:PORT to listen on (port 0: any free port).
        env: variables set on top of this process's environment.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--db",
        db_url,
        "--listen",
        listen,
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    output: list[bytes] = []
    proc.output = output  # type: ignore[attr-defined]
    announced: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            output.append(line)
            if not announced.done() and (match := _SERVING.search(line)):
                announced.set_result(int(match.group(1)))
        if not announced.done():
            text = b"".join(output).decode(errors="replace")
            announced.set_exception(AssertionError(f"gateway exited before serving:\n{text}"))

    reader = asyncio.create_task(read())
    try:
        yield proc, await asyncio.wait_for(announced, START_TIMEOUT)
    finally:
        await _stop(proc)
        reader.cancel()  # worker processes may still hold the pipe open
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
