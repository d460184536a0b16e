"""A private PostgreSQL cluster for fault tests: initdb in a temp dir, start, stop (crash), start.

The shared server on 127.0.0.1:5432 must never be stopped, so outage scenarios get their
own cluster: initialised into a temporary directory with trust authentication, listening
only on 127.0.0.1 on a port the OS picked, its unix socket inside the same directory and
``fsync`` off (an OS crash is not one of our faults; a PostgreSQL crash still loses nothing
committed, because ``synchronous_commit`` stays on). initdb and postgres refuse to run as
root, so when the tests run as root the cluster runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

PG_BIN = Path(os.environ.get("GALGATE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_OS_USER = "postgres"
_TIMEOUT = 60


class PgCluster:
    """One PostgreSQL cluster in a temporary directory.

    ``start()`` and ``stop()`` may be called any number of times; ``stop()`` is an
    immediate shutdown (no checkpoint, clients cut off: what a crash or an outage looks
    like to the gateway), and the next ``start()`` runs crash recovery.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="galgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(_OS_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", _OS_USER, "--"]
        self._run(
            PG_BIN / "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        settings = (
            f"port = {self.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\n"
            "fsync = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
            "shared_buffers = 32MB\n"
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)
        self.running = False

    @property
    def server_url(self) -> str:
        """URL of the maintenance database (for CREATE DATABASE)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (crash recovery included)."""
        if self.running:
            return
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")
        self.running = True

    def stop(self) -> None:
        """Immediate shutdown: every backend is killed, nothing is checkpointed."""
        if not self.running:
            return
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.running = False

    async def create_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"galgate_f_{secrets.token_hex(5)}"
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs and remove the directory."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for assertion messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def _run(self, *argv: object) -> None:
        cmd = [*self._as_user, *(str(a) for a in argv)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n"
                f"{self.log_tail()}"
            )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
