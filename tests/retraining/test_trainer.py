"""run_trainer: a spawned process per call, its failures typed, its time limit and cancel kept."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import (
    RetrainingCancelledError,
    TrainerConfigError,
    TrainerError,
    TrainerTimeoutError,
)
from gateway.retraining.request import TrainingRequest, TrainingResult, data_hash
from gateway.retraining.trainer import STOP_GRACE, parse_spec, run_trainer

TRAINERS = "tests.retraining.trainers"


def _request(rows: int = 60) -> TrainingRequest:
    X = np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float64)
    at = datetime(2024, 6, 1, tzinfo=UTC)
    return TrainingRequest(
        "m", ("a", "b", "c"), "1.0.0", "t", {}, "classification", "test", "admin",
        X, y, at, at, at, data_hash(X, y),
    )  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); a reaped child does not.
    return True


async def _pid(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text():
            return int(path.read_text())
        await asyncio.sleep(0.05)
    raise AssertionError("the trainer never started")


async def test_run_trainer_bare_estimator_comes_back_as_result():
    result = await run_trainer(f"{TRAINERS}:good", _request(), timeout=60)
    assert isinstance(result, TrainingResult) and result.X is None
    assert result.estimator.predict(np.zeros((1, 3), np.float32)).shape == (1,)


async def test_run_trainer_timeout_stops_the_child(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("GALGATE_TEST_PID_FILE", str(pid_file))
    started = time.monotonic()
    task = asyncio.ensure_future(run_trainer(f"{TRAINERS}:sleeps", _request(), timeout=3.0))
    pid = await _pid(pid_file)
    with pytest.raises(TrainerTimeoutError):
        await task
    assert time.monotonic() - started < 3.0 + STOP_GRACE + 2.0
    assert not _alive(pid)


async def test_run_trainer_cancel_event_stops_the_child_promptly(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("GALGATE_TEST_PID_FILE", str(pid_file))
    cancel = asyncio.Event()
    task = asyncio.ensure_future(
        run_trainer(f"{TRAINERS}:sleeps", _request(), timeout=120, cancel=cancel)
    )
    pid = await _pid(pid_file)
    cancel.set()
    started = time.monotonic()
    with pytest.raises(RetrainingCancelledError):
        await task
    assert time.monotonic() - started < STOP_GRACE + 1.0
    assert not _alive(pid)


async def test_run_trainer_task_cancelled_stops_the_child(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("GALGATE_TEST_PID_FILE", str(pid_file))
    task = asyncio.ensure_future(run_trainer(f"{TRAINERS}:sleeps", _request(), timeout=120))
    pid = await _pid(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the stop runs on in a thread, shielded from the cancellation
        if not _alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(pid)


@pytest.mark.parametrize(
    ("trainer", "expected"),
    [
        ("raises", "the feature store is down"),
        ("not_an_estimator", "expected a fitted estimator"),
        ("exits", r"exited \(code 3\) without an answer"),
    ],
)
async def test_run_trainer_failures_are_trainer_errors(trainer, expected):
    with pytest.raises(TrainerError, match=expected):
        await run_trainer(f"{TRAINERS}:{trainer}", _request(), timeout=60)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"{TRAINERS}:missing", "has no attribute 'missing'"),
        (f"{TRAINERS}:NOT_CALLABLE", "not callable"),
        ("tests.retraining.no_such_module:train", "cannot be imported"),
    ],
)
async def test_run_trainer_spec_checked_in_the_child_is_config_error(spec, expected):
    with pytest.raises(TrainerConfigError, match=expected):
        await run_trainer(spec, _request(), timeout=60)


@pytest.mark.parametrize(
    "spec", ["no_colon", "a:b:c", ":train", "mod:", "1mod:train", "mod:tr-ain", 42, "x" * 300]
)
async def test_run_trainer_bad_spec_syntax_fails_before_any_process(spec):
    with pytest.raises(TrainerConfigError):
        parse_spec(spec)
    started = time.monotonic()
    with pytest.raises(TrainerConfigError):
        await run_trainer(spec, _request(), timeout=60)
    assert time.monotonic() - started < 0.5


async def test_run_trainer_unknown_top_level_package_fails_before_any_process():
    with pytest.raises(TrainerConfigError, match="no module named"):
        await run_trainer("no_such_package_anywhere.train:fit", _request(), timeout=60)
