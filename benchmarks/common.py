"""Shared benchmark helpers: server processes, /proc CPU time, percentiles, targets, the bench
model and its registry, a temporary PostgreSQL database."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
_SERVING = re.compile(r"serving on (\S+):(\d+)")


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A server started as its own process, and the port it announced."""

    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL if it is still there."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without GALGATE_* settings, plus the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALGATE_")}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT)
    env.update(extra)
    return env


def start_server(
    name: str, argv: Sequence[str], log: Path, env: Mapping[str, str], timeout: float = 60.0
) -> ServerProcess:
    """Start ``argv`` with stdout+stderr to ``log``; wait for its "serving on HOST:PORT" line.

    Args:
        name: what the reports call this server.
        argv: the command line.
        log: file that receives the process's output (read to find the port).
        env: the process environment.
        timeout: seconds to wait for the announcement.

    Returns:
        The running process and its port; raises RuntimeError (with the log) if it died.
    """
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=REPO_ROOT
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _SERVING.search(log.read_text(errors="replace"))
        if match:
            return ServerProcess(name=name, proc=proc, port=int(match.group(2)), log=log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    raise RuntimeError(f"{name} did not start: {log.read_text(errors='replace')[-2000:]}")


def revision() -> str:
    """The repository's HEAD commit (short), or "unknown"; uncommitted changes not shown."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def galgate_argv() -> list[str]:
    """How to run the ``galgate`` command with this interpreter's installation."""
    script = Path(sys.executable).parent / "galgate"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gateway.cli"]


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of process ``pid`` (/proc)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may contain spaces; fields after ")" start at state (3).
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot, all cores (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy.
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))
    return busy / _CLK_TCK


@dataclass(frozen=True, slots=True)
class CpuMark:
    """A moment of a run: wall clock, the machine's busy CPU seconds and those of ``pids``."""

    pids: tuple[int, ...]
    wall: float
    machine_busy: float
    ours: float

    @classmethod
    def now(cls, pids: Sequence[int]) -> CpuMark:
        """Mark now; ``pids`` are the run's own processes (this one and its servers)."""
        pids = tuple(pids)
        ours = sum(cpu_seconds(pid) for pid in pids)
        return cls(pids, time.perf_counter(), machine_busy_seconds(), ours)

    def other_load_cores(self) -> float:
        """Cores kept busy since this mark by processes other than ``pids``: the run's noise."""
        ours = sum(cpu_seconds(pid) for pid in self.pids) - self.ours
        others = machine_busy_seconds() - self.machine_busy - ours
        return max(0.0, others) / (time.perf_counter() - self.wall)


def other_load_line(cores: float) -> str:
    """The report line on other processes' load during the rounds.

    >>> other_load_line(0.1)
    'other processes kept 0.10 of 2 cores busy during the rounds'
    """
    noisy = " (noisy run: compare with a quiet machine)" if cores > 0.2 else ""
    return f"other processes kept {cores:.2f} of 2 cores busy during the rounds{noisy}"


@dataclass(frozen=True, slots=True)
class Target:
    """One target: a measured value against a limit.

    >>> Target("failed calls", 0.0, "==", 0.0, "calls").passed
    True
    >>> Target("p99 ratio", float("nan"), "<=", 1.5).passed
    False
    """

    name: str
    value: float
    op: str  # "<=", ">=" or "=="
    limit: float
    unit: str = "x"

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        if self.op == "<=":
            return self.value <= self.limit
        if self.op == ">=":
            return self.value >= self.limit
        return self.value == self.limit


def progress(message: str) -> None:
    """Say what the run is doing, on stderr (stdout carries the report)."""
    print(message, file=sys.stderr, flush=True)


def percentiles_us(latencies_s: Sequence[float], qs: Sequence[float] = (50, 99)) -> list[float]:
    """Percentiles of latencies given in seconds, in microseconds.

    >>> percentiles_us([0.001, 0.002, 0.003], (50,))
    [2000.0]
    """
    if not latencies_s:
        return [float("nan")] * len(qs)
    values = np.percentile(np.asarray(latencies_s, dtype=np.float64), list(qs)) * 1e6
    return [float(v) for v in values]


@dataclass(frozen=True, slots=True)
class BenchModel:
    """The benchmark model: two versions of one classifier, prepared for registration."""

    name: str
    features: tuple[str, ...]
    X: np.ndarray
    versions: tuple[object, object]  # gateway.registration.PreparedVersion, 2 of them


def bench_model_description(args: argparse.Namespace) -> str:
    """What ``make_bench_model(args.trees, args.features, args.classes)`` trains, for reports."""
    return (
        f"GradientBoostingClassifier, {args.trees} trees, {args.classes} classes, "
        f"{args.features} features"
    )


def make_bench_model(trees: int, features: int, classes: int, rows: int = 1000) -> BenchModel:
    """Train and convert two versions of a GradientBoostingClassifier (different subsamples)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier

    from gateway.registration import prepare_estimator

    X, y = make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=min(features, 8),
        n_redundant=0,
        n_classes=classes,
        random_state=0,
    )
    X = X.astype(np.float32)
    names = tuple(f"f{i:02d}" for i in range(features))
    prepared = []
    for seed, subsample in ((0, 1.0), (1, 0.8)):
        model = GradientBoostingClassifier(
            n_estimators=trees, max_depth=3, subsample=subsample, random_state=seed
        ).fit(X, y)
        prepared.append(prepare_estimator(model, X, y, feature_names=names))
    return BenchModel(
        name="bench",
        features=names,
        X=X,
        versions=(prepared[0], prepared[1]),
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for a server that does not announce its own)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def register_bench_versions(url: str, bench: BenchModel, versions: Sequence[str]) -> None:
    """Register ``bench``'s two versions at ``url``: ``versions[0]`` production, the other staging.

    Args:
        url: the registry's SQLAlchemy URL (created if new).
        bench: the model, from :func:`make_bench_model`.
        versions: two version strings, in the order of ``bench.versions``.
    """
    from gateway.registration import register_prepared
    from registry import Stage
    from registry.store.registry import Registry

    registry = await Registry.open(url)
    try:
        for version, prepared in zip(versions, bench.versions, strict=True):
            await register_prepared(registry, bench.name, prepared, version=version, actor="bench")
            await registry.transition(bench.name, version, Stage.STAGING, actor="bench")
        await registry.transition(bench.name, versions[0], Stage.PRODUCTION, actor="bench")
    finally:
        await registry.close()


@asynccontextmanager
async def temp_postgres_database(admin_dsn: str) -> AsyncIterator[str]:
    """Create a uniquely named PostgreSQL database, yield its asyncpg URL, drop it after.

    Args:
        admin_dsn: a libpq URL of a database to connect to for CREATE/DROP DATABASE.

    Yields:
        ``postgresql+asyncpg://…/galgate_bench_<random>``; raises OSError when the server
        is unreachable.
    """
    import uuid

    name = f"galgate_bench_{uuid.uuid4().hex[:10]}"
    await _execute(admin_dsn, f'CREATE DATABASE "{name}"')
    host_part = admin_dsn.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        await _execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
