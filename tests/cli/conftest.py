"""Fixtures for the CLI tests: fitted models and data files on disk, in-process gateways."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.server.app import build_server
from registry.store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("ret_1m", "ret_5m", "imbalance", "spread_bps", "volume_z")


@dataclass(frozen=True, slots=True)
class CliFiles:
    """Files a user would hand to `galgate register`."""

    sklearn_model: Path
    xgboost_model: Path
    onnx_model: Path
    csv: Path
    garbage_onnx: Path

    def register_args(self, model: Path, *flags: str) -> tuple[str, ...]:
        """`register MODEL --name signal --data <the CSV> --target label FLAGS...`."""
        data = ("--data", str(self.csv), "--target", "label")
        return ("register", str(model), "--name", "signal", *data, *flags)


@dataclass(frozen=True, slots=True)
class CliResult:
    """One finished `galgate` process."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def run_cli(db: str, *args: str, timeout: float = 120) -> CliResult:
    """Run `python -m gateway.cli --db DB ARGS...` in a fresh process as user 'tester'."""
    env = {**os.environ, "USER": "tester", "GALGATE_DB_URL": db}
    env.pop("GALGATE_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _data(rows: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES)))
    score = 1.5 * X[:, 0] - X[:, 2] + 0.5 * X[:, 4] + rng.normal(scale=0.3, size=rows)
    y = np.digitize(score, [-0.7, 0.7]).astype(np.int64)  # three classes 0 / 1 / 2
    return X, y


@pytest.fixture(scope="session")
def cli_files(tmp_path_factory: pytest.TempPathFactory) -> CliFiles:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier
    from xgboost import XGBClassifier

    from converters import convert

    out = tmp_path_factory.mktemp("cli_files")
    X, y = _data()
    sk = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)
    xgb = XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0).fit(X, y)
    files = CliFiles(
        sklearn_model=out / "gbm.joblib",
        xgboost_model=out / "xgb.joblib",
        onnx_model=out / "gbm.onnx",
        csv=out / "train.csv",
        garbage_onnx=out / "garbage.onnx",
    )
    joblib.dump(sk, files.sklearn_model)
    joblib.dump(xgb, files.xgboost_model)
    files.onnx_model.write_bytes(convert(sk, X, feature_names=list(FEATURES)).onnx_bytes)
    files.garbage_onnx.write_bytes(b"this is not an onnx model\x00\x01" * 40)
    table = np.column_stack([X, y])
    np.savetxt(
        files.csv,
        table,
        delimiter=",",
        header=",".join((*FEATURES, "label")),
        comments="",
        fmt="%.10g",
    )
    return files


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'galgate.db'}"


@dataclass(frozen=True, slots=True)
class Remote:
    """A started gateway and the registry database behind it."""

    address: str
    db: str
    registry: Registry


StartGateway = Callable[..., Awaitable[Remote]]


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GALGATE_TOKEN", raising=False)


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    """Start gateways (127.0.0.1:0, SQLite file in tmp_path); all are stopped afterwards."""
    started: list[tuple[object, Registry]] = []

    async def start(admin_token: str = "") -> Remote:
        url = f"sqlite+aiosqlite:///{tmp_path / f'remote{len(started)}.db'}"
        registry = await Registry.open(url)
        settings = Settings(
            listen="127.0.0.1:0", poll_interval=0.05, grace_seconds=1.0, admin_token=admin_token
        )
        gateway = build_server(settings, registry)
        await gateway.start()
        started.append((gateway, registry))
        return Remote(f"127.0.0.1:{gateway.port}", url, registry)

    yield start
    for gateway, registry in reversed(started):
        await gateway.stop(grace=0)  # type: ignore[attr-defined]
        await registry.close()


@pytest.fixture
async def remote(start_gateway: StartGateway) -> Remote:
    return await start_gateway()


async def galgate(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `galgate ARGS` in-process, off the gateway's event loop."""
    code = await asyncio.to_thread(main, ["--actor", "ops", *args])
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def stderr_line(stderr: str) -> str:
    """The single 'galgate: error: ...' line a failed command printed (no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("galgate: error: ")
    return lines[0]


def error_line(result: CliResult, code: int = 1) -> str:
    """The single stderr line of a command that failed with exit ``code``."""
    assert result.code == code, (result.stdout, result.stderr)
    return stderr_line(result.stderr)
