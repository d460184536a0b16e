"""Named crash points: a process started with ``GALGATE_CRASH_AT`` kills itself there.

Fault tests use these to SIGKILL a real gateway at an exact instant (inside a promote
transaction, between a commit and the swap, mid log batch) and then check that nothing
acknowledged was lost. ``GALGATE_CRASH_AT`` is a comma-separated list of ``point`` (the
first time it is reached) or ``point@N`` (the N-th time). Unset, :func:`reached` costs
one global lookup and a comparison; the variable is read once, at the first call.

>>> reached("promote.before_commit")  # not armed: nothing happens
"""

from __future__ import annotations

import os
import signal

ENV = "GALGATE_CRASH_AT"
POINTS = frozenset(
    {
        "promote.before_commit",
        "promote.after_commit",
        "predlog.before_commit",
        "outcome.after_commit",
    }
)

_armed: dict[str, int] | None = None


def parse(value: str) -> dict[str, int]:
    """``"a@2,b"`` -> ``{"a": 2, "b": 1}``.

    >>> parse("promote.after_commit@3, outcome.after_commit")
    {'promote.after_commit': 3, 'outcome.after_commit': 1}

    Raises:
        ValueError: an unknown point or a count below 1.
    """
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, count = item.partition("@")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown crash point {name!r}; known: {sorted(POINTS)}")
        hits = int(count) if count else 1
        if hits < 1:
            raise ValueError(f"{ENV}: {item!r} needs a count of at least 1")
        armed[name] = hits
    return armed


def load() -> dict[str, int]:
    """Read ``GALGATE_CRASH_AT`` now (a process calls this at start to fail early).

    Raises:
        ValueError: the variable names an unknown point or a bad count.
    """
    global _armed
    _armed = parse(os.environ.get(ENV, ""))
    return dict(_armed)


def reached(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and this is its N-th arrival."""
    if _armed is None:
        load()
    if not _armed or name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] == 0:
        os.kill(os.getpid(), signal.SIGKILL)
