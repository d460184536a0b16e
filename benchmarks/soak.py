"""Soak benchmark: a real ``galgate serve`` process on loopback under mixed, hostile load
for minutes, with kill -9 + restart and database locks injected; reports calls by
method x status code, acknowledged vs stored outcomes, RSS per minute and Predict
latency per minute, and exits non-zero on a finding. Not part of CI (a 16-second smoke
run is: ``tests/benchmarks/test_soak_smoke.py``).

    .venv/bin/python -m benchmarks.soak --minutes 10 [--backend sqlite|postgres] [--json out.json]

What runs, concurrently, for the whole duration (all against one gateway address: a
restarted gateway listens on the same port, so the clients go on and so does the ledger):

- ``tests.faults.load.Load``: Predict callers (packed float32 rows), RecordOutcome for
  every k-th answered prediction (plus one caller that only predicts, so Predict is
  measured while outcomes wait on a locked database), and a promoter flipping clf's
  production version between 1.0.0 and 1.0.1 (PromoteModel), all with the right bearer
  tokens (the gateway runs with GALGATE_ADMIN_TOKEN, GALGATE_PREDICT_TOKEN and
  GALGATE_OUTCOME_TOKEN set);
- experiments created between the two versions, their results read, paused, resumed and
  stopped (``soak_traffic.ExperimentCycler``; the gateway's monitor looks every 5 s);
- forged and malformed calls (``soak_traffic.Hostile``): guessed and tampered prediction
  ids, wrong / missing / other-door tokens, conflicting outcomes, NaN / Inf / 1e300,
  wrong widths, oversized names and messages, empty requests, unknown versions and ids;
- faults, alternately every ``--faults-every`` seconds: kill -9 of the gateway and a
  restart (the next process is spawned ahead, so a restart costs what a restart costs),
  and a database lock (SQLite: another connection holds BEGIN EXCLUSIVE past the busy
  timeout; PostgreSQL: another session holds ACCESS EXCLUSIVE on predictions and
  outcomes);
- an RSS / fd / thread sampler of the serving process every ``--sample-every`` seconds.

At the end the load stops, the gateway gets SIGTERM (graceful: it writes every queued
prediction), and the registry is read and checked with the fault suite's invariants
(``tests.faults.invariants``). See ``benchmarks.soak_report`` for the findings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from benchmarks.common import free_port, progress, temp_postgres_database
from benchmarks.soak_report import Lifetime, Sample, SoakRun, Window, render, report
from benchmarks.soak_traffic import (
    Caller,
    ExperimentCycler,
    Hostile,
    Tokens,
    authorized_channel,
    raw_channel,
)
from tests.faults.conftest import MODEL, V1, V2, seed
from tests.faults.invariants import read_registry
from tests.faults.load import Clients, Ledger, Load
from tests.faults.process import BASE_ENV, GatewayProcess, spawn
from tests.faults.test_sqlite_faults import exclusive_lock
from tests.gateway.conftest import FEATURES, Trained
from tests.gateway.conftest import trained as trained_fixture

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
FLUSH_INTERVAL = float(BASE_ENV["GALGATE_PREDLOG_FLUSH_INTERVAL"])
RESTART_ATTEMPTS = 3


def build_trained() -> Trained:
    """The fault suite's two clf versions (and reg), trained and converted: the body of
    the session fixture ``tests.gateway.conftest.trained``, called outside pytest."""
    return trained_fixture.__wrapped__()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    p.add_argument("--minutes", type=float, default=10.0, help="how long to soak (default 10)")
    p.add_argument("--seconds", type=float, help="how long to soak, in seconds (overrides)")
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("GALGATE_TEST_PG_URL", DEFAULT_PG),
        help="PostgreSQL server to create a temporary database on",
    )
    p.add_argument("--json", type=Path, help="write the figures here as JSON")
    p.add_argument("--callers", type=int, default=3, help="concurrent Predict callers")
    p.add_argument(
        "--predict-pause",
        type=float,
        default=0.01,
        help="seconds each caller sleeps between Predicts",
    )
    p.add_argument(
        "--outcome-every",
        type=int,
        default=3,
        help="RecordOutcome for every k-th answered prediction",
    )
    p.add_argument("--promote-every", type=float, default=4.0, help="seconds between promotions")
    p.add_argument(
        "--experiment-seconds",
        type=float,
        default=20.0,
        help="how long each experiment runs before it is stopped",
    )
    p.add_argument(
        "--hostile-pause",
        type=float,
        default=0.1,
        help="seconds between two forged/malformed calls",
    )
    p.add_argument(
        "--faults-every",
        type=float,
        help="seconds between faults, alternately kill -9 and a database lock "
        "(default: 90, or a quarter of runs shorter than 6 minutes; 0: none)",
    )
    p.add_argument(
        "--lock-seconds",
        type=float,
        default=6.5,
        help="how long a lock is held (SQLite's busy timeout is 5 s)",
    )
    p.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling interval")
    p.add_argument(
        "--warmup",
        type=float,
        help="seconds of each gateway lifetime before RSS growth counts "
        "(default 60, or a quarter of shorter runs)",
    )
    p.add_argument(
        "--max-rss-growth-mb",
        type=float,
        default=64.0,
        help="RSS growth after warm-up that is a finding",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed of the hostile cases")
    args = p.parse_args(argv)
    args.duration = args.seconds if args.seconds is not None else args.minutes * 60
    if args.duration <= 0:
        p.error("the duration must be positive")
    if args.faults_every is None:
        args.faults_every = 90.0 if args.duration >= 360 else args.duration / 4
    if args.warmup is None:
        args.warmup = min(60.0, args.duration / 4)
    if args.seed is None:
        args.seed = random.randrange(2**32)
    return args


def fault_plan(duration: float, every: float, lock_seconds: float) -> list[tuple[float, str]]:
    """(offset, kind) of the faults: kill, lock, kill, ... every ``every`` seconds, the
    last ending well before the run does. A kill comes at least 10 s after a lock ended
    (predictions held in memory during the lock are written by then; a kill may lose
    only what the last flush interval queued), else it is left out.

    >>> fault_plan(600, 90, 6.5)
    [(90, 'kill'), (180, 'lock'), (270, 'kill'), (360, 'lock'), (450, 'kill'), (540, 'lock')]
    >>> fault_plan(20, 5, 6.5)
    [(5, 'kill'), (10, 'lock')]
    >>> fault_plan(40, 10, 6.5)
    [(10, 'kill'), (20, 'lock')]
    """
    plan: list[tuple[float, str]] = []
    if every <= 0:
        return plan
    last_lock_end = -math.inf
    k = 1
    while True:
        at = round(k * every, 3)
        kind = "kill" if k % 2 else "lock"
        k += 1
        needs = lock_seconds + 1.0 if kind == "lock" else 5.0
        if at + needs > duration:
            return plan
        if kind == "kill" and at < last_lock_end + 10.0:
            continue
        if kind == "lock":
            last_lock_end = at + lock_seconds
        plan.append((int(at) if at == int(at) else at, kind))


class Soak:
    """One soak run: the gateway process(es), the traffic, the faults, the samples."""

    def __init__(self, args: argparse.Namespace, url: str, db_path: Path | None) -> None:
        self.args = args
        self.url = url
        self.db_path = db_path
        self.tokens = Tokens.random()
        self.env = {
            **self.tokens.env(),
            "GALGATE_MONITOR_INTERVAL": "5",
        }
        self.listen = f"127.0.0.1:{free_port()}"
        self.ledger = Ledger(model=MODEL, initial_production=V1)
        self.gw: GatewayProcess | None = None
        self.ahead: GatewayProcess | None = None
        self.lifetimes: list[Lifetime] = []
        self.windows: list[Window] = []
        self.samples: list[Sample] = []
        self.outputs: list[tuple[Lifetime, GatewayProcess]] = []
        self.restart_failures: list[str] = []

    # -- gateway processes ------------------------------------------------------------

    async def _spawn(self) -> GatewayProcess:
        return await spawn(self.url, env=self.env, listen=self.listen)

    async def _serve(self, gw: GatewayProcess) -> None:
        await gw.go()
        self.gw = gw
        life = Lifetime(index=len(self.lifetimes) + 1, pid=gw.pid, started=time.monotonic())
        self.lifetimes.append(life)
        self.outputs.append((life, gw))

    async def _kill_and_restart(self) -> None:
        assert self.gw is not None and self.ahead is not None
        old, life = self.gw, self.lifetimes[-1]
        killed_at = old.kill()
        code = await old.wait(10)
        life.ended, life.how = killed_at, f"kill -9 (exit {code})"
        await old.close()
        for attempt in range(1, RESTART_ATTEMPTS + 1):
            try:
                await self._serve(self.ahead)
                break
            except (AssertionError, TimeoutError) as exc:
                # A gateway that cannot start again after kill -9 is a finding; a fresh
                # process is tried, so the soak goes on.
                failed, self.ahead = self.ahead, None
                self.restart_failures.append(f"attempt {attempt}: {str(exc)[-2000:]}")
                progress(f"  restart attempt {attempt} failed: {str(exc)[-300:]}")
                await failed.close()
                self.ahead = await self._spawn()
                if attempt == RESTART_ATTEMPTS:
                    raise
        self.ahead = await self._spawn()
        self.windows.append(
            Window(
                "kill",
                killed_at,
                time.monotonic(),
                f"restart took {time.monotonic() - killed_at:.1f}s",
            )
        )
        progress(
            f"  kill -9 pid {old.pid}; pid {self.gw.pid} serving after "
            f"{time.monotonic() - killed_at:.1f}s"
        )

    # -- faults -------------------------------------------------------------------------

    async def _lock(self) -> None:
        seconds = self.args.lock_seconds
        if self.db_path is not None:
            async with exclusive_lock(self.db_path) as locked_at:
                await asyncio.sleep(seconds)
            detail = "SQLite BEGIN EXCLUSIVE by another connection"
        else:
            locked_at = await self._pg_lock(seconds)
            detail = "PostgreSQL ACCESS EXCLUSIVE on predictions, outcomes"
        self.windows.append(Window("lock", locked_at, time.monotonic(), detail))
        progress(f"  database locked {time.monotonic() - locked_at:.1f}s ({detail})")

    async def _pg_lock(self, seconds: float) -> float:
        import asyncpg
        from sqlalchemy.engine import make_url

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE predictions, outcomes IN ACCESS EXCLUSIVE MODE")
                locked_at = time.monotonic()
                await asyncio.sleep(seconds)
        finally:
            await conn.close()
        return locked_at

    async def _faults(self, t0: float, stop: asyncio.Event) -> None:
        for offset, kind in fault_plan(
            self.args.duration, self.args.faults_every, self.args.lock_seconds
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, t0 + offset - time.monotonic()))
            if stop.is_set():
                return
            progress(f"t={time.monotonic() - t0:.0f}s: {kind}")
            await (self._kill_and_restart() if kind == "kill" else self._lock())

    async def _sampler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            gw, life = self.gw, self.lifetimes[-1] if self.lifetimes else None
            if gw is not None and life is not None and gw.returncode is None:
                self.samples.append(
                    Sample(time.monotonic(), life.index, gw.rss_bytes(), *_fds_threads(gw.pid))
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.sample_every)

    # -- the run --------------------------------------------------------------------

    async def run(self, trained: Trained) -> SoakRun:
        args = self.args
        rng = random.Random(args.seed)
        self.ahead = await self._spawn()
        await self._serve(self.ahead)
        self.ahead = await self._spawn()
        progress(
            f"gateway pid {self.gw.pid} serving on {self.listen} ({args.backend}); "
            f"soaking {args.duration:g}s"
        )
        async with (
            authorized_channel(self.listen, self.tokens) as channel,
            raw_channel(self.listen) as raw,
        ):
            clients = Clients(channel, self.ledger)
            load = Load(
                clients,
                trained.X,
                versions=(V1, V2),
                callers=args.callers,
                outcome_every=args.outcome_every,
                promote_pause=args.promote_every,
                predict_pause=args.predict_pause,
            )
            # One more caller that only predicts: the load's callers wait on their
            # outcomes while the database is locked; this one shows Predict serving on.
            predict_only = Load(
                clients,
                trained.X,
                versions=(),
                callers=1,
                outcome_every=0,
                predict_pause=args.predict_pause,
            )
            admin = Caller(channel, self.ledger)
            cycler = ExperimentCycler(
                admin,
                MODEL,
                (V1, V2),
                run_seconds=args.experiment_seconds,
                pause_seconds=max(1.0, args.experiment_seconds / 4),
                rng=rng,
            )
            hostile_caller = Caller(raw, self.ledger)
            hostile = Hostile(
                hostile_caller,
                self.tokens,
                self.ledger,
                model=MODEL,
                versions=(V1, V2),
                width=len(FEATURES),
                features=FEATURES,
                rows=trained.X,
                pause=args.hostile_pause,
                rng=rng,
            )
            stop = asyncio.Event()
            t0 = time.monotonic()
            load.start()
            predict_only.start()
            tasks = [
                asyncio.create_task(cycler.run(), name="experiments"),
                asyncio.create_task(hostile.run(), name="hostile"),
                asyncio.create_task(self._sampler(stop), name="sampler"),
            ]
            faults = asyncio.create_task(self._faults(t0, stop), name="faults")
            try:
                await self._progress(t0, stop, faults)
            finally:
                stop.set()
                cycler.stop()
                hostile.stop()
                await load.stop()
                await predict_only.stop()
                # a fault in progress (a restart, a lock) finishes first
                await faults
                await asyncio.gather(*tasks)
            ended = time.monotonic()
            await cycler.stop_all()
            status = await clients.status()
        progress(f"stopping gateway pid {self.gw.pid} (SIGTERM)")
        life = self.lifetimes[-1]
        self.gw.terminate()
        code = await self.gw.wait(60)
        life.ended, life.how = time.monotonic(), f"SIGTERM (exit {code})"
        await self.gw.close()
        if self.ahead is not None:
            await self.ahead.close()
        for lifetime, gw in self.outputs:
            lifetime.error_lines = [
                line
                for line in gw.output(tail=10**9).splitlines()
                if " ERROR " in line or "Traceback" in line or "unhandled error" in line
            ]
        experiments = {k: v for k, v in vars(cycler.counts).items() if k != "ids"}
        return SoakRun(
            backend=args.backend,
            duration=ended - t0,
            t0=t0,
            ended=ended,
            ledger=self.ledger,
            proper={**admin.proper, **hostile_caller.proper},
            windows=self.windows,
            samples=self.samples,
            lifetimes=self.lifetimes,
            experiments=experiments,
            predlog_dropped=getattr(status, "prediction_log_dropped", None),
            hostile_calls=hostile.calls,
            repeats_not_duplicate=hostile.repeats_not_duplicate,
            stream_problems=hostile.stream_problems,
            restart_failures=self.restart_failures,
            final_exit_code=code,
            settings={
                "callers": args.callers,
                "predict_pause_s": args.predict_pause,
                "outcome_every": args.outcome_every,
                "promote_every_s": args.promote_every,
                "experiment_seconds": args.experiment_seconds,
                "hostile_pause_s": args.hostile_pause,
                "faults_every_s": args.faults_every,
                "lock_seconds": args.lock_seconds,
                "warmup_s": args.warmup,
                "max_rss_growth_mb": args.max_rss_growth_mb,
                "seed": args.seed,
                "gateway_env": {
                    k: v for k, v in {**BASE_ENV, **self.env}.items() if "TOKEN" not in k
                },
            },
            loss_window=FLUSH_INTERVAL + 1.9,
            warmup=args.warmup,
            max_rss_growth_mb=args.max_rss_growth_mb,
        )

    async def _progress(self, t0: float, stop: asyncio.Event, faults: asyncio.Task) -> None:
        """Wait out the duration, saying how it goes every minute; a fault task that
        fails ends the run early (its exception propagates)."""
        end = t0 + self.args.duration
        next_note = t0 + 60
        while (now := time.monotonic()) < end:
            wake = min(end, next_note)
            done, _ = await asyncio.wait({faults}, timeout=max(0.0, wake - now))
            if faults in done and faults.exception() is not None:
                raise faults.exception()
            if time.monotonic() >= next_note:
                next_note += 60
                rss = self.gw.rss_bytes() / 2**20 if self.gw else 0
                progress(
                    f"t={time.monotonic() - t0:.0f}s: {len(self.ledger.calls)} calls, "
                    f"{len(self.ledger.acknowledged)} outcomes acknowledged, "
                    f"RSS {rss:.0f} MiB"
                )


def _fds_threads(pid: int) -> tuple[int, int]:
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status") as status:
            threads = next(
                (int(line.split()[1]) for line in status if line.startswith("Threads:")), 0
            )
    except (OSError, ValueError):
        return 0, 0
    return fds, threads


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[tuple[str, Path | None]]:
    """A fresh registry database: a SQLite file in a temporary directory, or a temporary
    database on the PostgreSQL server; removed afterwards."""
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="galgate-soak-") as tmp:
            path = Path(tmp) / "galgate.db"
            yield f"sqlite+aiosqlite:///{path}", path
    else:
        async with temp_postgres_database(args.pg_url) as url:
            yield url, None


async def amain(args: argparse.Namespace) -> dict:
    progress("training and converting the fault suite's models")
    trained = await asyncio.to_thread(build_trained)
    async with database(args) as (url, path):
        await seed(url, trained)
        soak = Soak(args, url, path)
        try:
            run = await soak.run(trained)
        finally:
            for gw in (soak.gw, soak.ahead):
                if gw is not None and gw.returncode is None:
                    await gw.close()
        try:
            state = await read_registry(url)
        except Exception as exc:  # the report says so; it is a finding
            progress(f"reading the registry failed: {exc!r}")
            state = None
        return report(run, state)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = asyncio.run(amain(args))
    print(render(figures), flush=True)
    if args.json:
        text = json.dumps(_finite(figures), indent=2, default=_json_default, allow_nan=False)
        args.json.write_text(text + "\n")
    return 1 if figures["findings"] else 0


def _finite(value: object) -> object:
    """``value`` with every NaN/Inf float replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, grpc.StatusCode):
        return value.name
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
