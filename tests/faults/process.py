"""One `galgate serve` process for fault tests: start, kill -9, SIGTERM, restart; output kept.

Unlike ``tests.gateway.procs.galgate_serve`` this helper can start a gateway that does not
announce itself (its database is down) and kill or terminate it at a chosen instant, and
it keeps the whole output for assertion messages (tracebacks the gateway logged).

A process is spawned in two steps so that a restart costs what a restart costs and not
the Python imports: :func:`spawn` starts the interpreter, which imports the gateway's
modules and then waits; :meth:`GatewayProcess.go` makes it run ``gateway.cli.main(["serve",
...])`` — what the ``galgate`` console script runs. Scenarios that kill gateways again and
again spawn the next process while the current one is under load, and tell it to go
after the kill: it opens the database (and recovers it) only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping

_SERVING = re.compile(rb"serving on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# Imports first (the slow part of a start), then serve when told to.
_LAUNCHER = """
import sys
import gateway.cli, gateway.server.process, gateway.server.app
if sys.stdin.readline().strip() != "go":
    sys.exit(0)
sys.exit(gateway.cli.main(sys.argv[1:]))
"""

# Settings every fault test starts from: fast event tailing, a short flush interval so
# "lost predictions" are a small window, short grace, and no monitor noise.
BASE_ENV: dict[str, str] = {
    "GALGATE_POLL_INTERVAL": "0.1",
    "GALGATE_PREDLOG_FLUSH_INTERVAL": "0.1",
    "GALGATE_GRACE_SECONDS": "3",
    "GALGATE_MONITOR_INTERVAL": "60",
}


class GatewayProcess:
    """A ``galgate serve`` child process (see :func:`spawn`).

    Args:
        proc: the child.
        listen: the HOST:PORT it was told to listen on.
    """

    def __init__(self, proc: asyncio.subprocess.Process, listen: str) -> None:
        self.proc = proc
        self.listen = listen
        self._output: list[bytes] = []
        self._announced: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        self.port: int = 0
        self.killed_at: float | None = None
        self.terminated_at: float | None = None
        self.exited_at: float | None = None

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self._output.append(line)
            if not self._announced.done() and (match := _SERVING.search(line)):
                self._announced.set_result(int(match.group(1)))
        if not self._announced.done():
            code = await self.proc.wait()
            self._announced.set_exception(
                AssertionError(f"gateway exited (code {code}) before serving:\n{self.output()}")
            )

    async def go(self, *, wait_serving: bool = True) -> GatewayProcess:
        """Start serving. With ``wait_serving``, return once the process announces its port
        (a process that exits first fails the test with its output); without, the port is
        the one it was told to listen on."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()
        if wait_serving:
            self.port = await asyncio.wait_for(asyncio.shield(self._announced), START_TIMEOUT)
        else:
            self.port = int(self.listen.rpartition(":")[2])
        return self

    async def close(self) -> None:
        """End the process (SIGTERM, then SIGKILL after STOP_TIMEOUT) and stop reading it."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            if await self.wait(STOP_TIMEOUT) is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._reader, 5)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        if not self._announced.done():
            self._announced.cancel()
        elif not self._announced.cancelled():
            self._announced.exception()  # retrieved: no "never retrieved" warning

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self, tail: int = 6000) -> str:
        """What the process printed (the last ``tail`` characters)."""
        return b"".join(self._output).decode(errors="replace")[-tail:]

    def kill(self) -> float:
        """SIGKILL now; returns the monotonic time the signal was sent."""
        self.killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        return self.killed_at

    def terminate(self) -> float:
        """SIGTERM now; returns the monotonic time the signal was sent."""
        self.terminated_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        return self.terminated_at

    async def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended, or None if it still runs after
        ``timeout`` seconds."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return None
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return code

    def rss_bytes(self) -> int:
        """Resident memory of the process now (0 once it has exited)."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0


def gateway_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any GALGATE_* variable, plus BASE_ENV and extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALGATE_")}
    env.update(BASE_ENV)
    env.update(extra or {})
    return env


async def spawn(
    db_url: str, *, env: Mapping[str, str] | None = None, listen: str = "127.0.0.1:0"
) -> GatewayProcess:
    """Start the interpreter of ``galgate serve --db DB_URL --listen LISTEN``; it imports
    the gateway and waits for :meth:`GatewayProcess.go`. Close it when done.

    Args:
        db_url: the registry's URL.
        env: GALGATE_* settings on top of BASE_ENV (inherited GALGATE_* are dropped).
        listen: HOST:PORT (port 0: any free port; the process announces it).
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LAUNCHER,
        "serve",
        "--db",
        db_url,
        "--listen",
        listen,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=gateway_env(env),
    )
    return GatewayProcess(proc, listen)


@contextlib.asynccontextmanager
async def started(
    gw: GatewayProcess, *, wait_serving: bool = True
) -> AsyncIterator[GatewayProcess]:
    """``gw`` (from :func:`spawn`) serving for the block; closed on exit (SIGTERM, then
    SIGKILL) if still running. See :meth:`GatewayProcess.go` for ``wait_serving``."""
    try:
        await gw.go(wait_serving=wait_serving)
        yield gw
    finally:
        await gw.close()


@contextlib.asynccontextmanager
async def gateway(
    db_url: str,
    *,
    env: Mapping[str, str] | None = None,
    listen: str = "127.0.0.1:0",
    wait_serving: bool = True,
) -> AsyncIterator[GatewayProcess]:
    """Spawn and start a gateway for the block (see :func:`spawn` and :func:`started`)."""
    async with started(
        await spawn(db_url, env=env, listen=listen), wait_serving=wait_serving
    ) as gw:
        yield gw
