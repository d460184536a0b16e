"""One `galgate serve` process for fault tests: start, kill -9, SIGTERM, restart; output kept.

Unlike ``tests.gateway.procs.galgate_serve`` this helper can start a gateway that does not
announce itself (its database is down) and kill or terminate it at a chosen instant, and
it keeps the whole output for assertion messages (tracebacks the gateway logged).
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

# Settings every fault test starts from: fast event tailing, a short flush interval so
# "lost predictions" are a small window, short grace, and no monitor noise.
BASE_ENV: dict[str, str] = {
    "GALGATE_POLL_INTERVAL": "0.1",
    "GALGATE_PREDLOG_FLUSH_INTERVAL": "0.1",
    "GALGATE_GRACE_SECONDS": "3",
    "GALGATE_MONITOR_INTERVAL": "60",
}


class GatewayProcess:
    """A running ``python -m gateway.cli serve`` child process.

    Args:
        proc: the child.
        output: every line it printed so far (stdout and stderr together).
    """

    def __init__(self, proc: asyncio.subprocess.Process, output: list[bytes]) -> None:
        self.proc = proc
        self._output = output
        self.port: int = 0
        self.killed_at: float | None = None
        self.terminated_at: float | None = None
        self.exited_at: float | None = None

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


@contextlib.asynccontextmanager
async def gateway(
    db_url: str,
    *,
    env: Mapping[str, str] | None = None,
    listen: str = "127.0.0.1:0",
    wait_serving: bool = True,
) -> AsyncIterator[GatewayProcess]:
    """Start ``galgate serve --db DB_URL --listen LISTEN``; yield the process.

    With ``wait_serving`` the port is the one the process announces ("serving on
    127.0.0.1:PORT"), and a process that exits first fails the test with its output.
    Without it (a gateway whose database is down may not announce anything) the port is
    the one in ``listen``. On exit a process still running gets SIGTERM, then SIGKILL
    after ``STOP_TIMEOUT`` seconds.

    Args:
        db_url: the registry's URL.
        env: GALGATE_* settings on top of BASE_ENV (inherited GALGATE_* are dropped).
        listen: HOST:PORT (port 0: any free port; then ``wait_serving`` is needed).
        wait_serving: wait for the announcement.
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
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=gateway_env(env),
    )
    output: list[bytes] = []
    announced: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    gw = GatewayProcess(proc, output)

    async def read() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            output.append(line)
            if not announced.done() and (match := _SERVING.search(line)):
                announced.set_result(int(match.group(1)))
        if not announced.done():
            announced.set_exception(
                AssertionError(
                    f"gateway exited (code {proc.returncode}) before serving:\n{gw.output()}"
                )
            )

    reader = asyncio.create_task(read())
    try:
        if wait_serving:
            gw.port = await asyncio.wait_for(announced, START_TIMEOUT)
        else:
            gw.port = int(listen.rpartition(":")[2])
        yield gw
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            if await gw.wait(STOP_TIMEOUT) is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 5)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if not announced.done():
            announced.cancel()
        elif not announced.cancelled():
            announced.exception()  # retrieved: no "never retrieved" warning
