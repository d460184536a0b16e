"""Crash points kill the process exactly where and when GALGATE_CRASH_AT says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from registry import crashpoints

_SCRIPT = """
from registry import crashpoints
for i in range(3):
    print(i, flush=True)
    crashpoints.reached("promote.after_commit")
print("done", flush=True)
"""


def _run(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV}
    if value is not None:
        env[crashpoints.ENV] = value
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )


def test_crash_point_unarmed_lets_the_process_finish():
    result = _run(None)
    assert result.returncode == 0 and result.stdout.split() == ["0", "1", "2", "done"]


def test_crash_point_kills_with_sigkill_on_the_nth_arrival():
    result = _run("predlog.before_commit, promote.after_commit@2")
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split() == ["0", "1"]


@pytest.mark.parametrize(
    "value", ["promote.after", "promote.after_commit@0", "outcome.after_commit@x"]
)
def test_crash_point_bad_value_is_refused(value):
    with pytest.raises(ValueError):
        crashpoints.parse(value)
