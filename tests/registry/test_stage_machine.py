"""Hypothesis state machine over the stage machine on SQLite, checked against a reference model.

Invariants after every step: at most one production version per model (read back from the
database), stored stages equal the reference model's, and replaying the audit trail from
registration gives exactly the stored stages, with one event per audit row.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from registry import InvalidStageTransitionError, ModelVersion, Registry, Stage
from tests.helpers import fake_artifact, make_spec

T = TypeVar("T")
D, S, P, A = Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED
VALID = {(D, S), (D, A), (S, P), (S, D), (S, A), (P, S), (P, A), (A, D)}
NAMES = ("alpha", "beta")
PICK_NAME = st.sampled_from(("alpha", "alpha", "alpha", "beta"))  # one model gets deep


class StageMachine(RuleBasedStateMachine):
    """Drive a real Registry with random moves; keep a plain-Python model alongside."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="galgate-sm-"))
        self.registry = self.run(Registry.open(f"sqlite:///{self.dir / 'sm.db'}"))
        self.stages: dict[str, dict[str, Stage]] = {n: {} for n in NAMES}
        self.promoted: dict[str, list[str]] = {n: [] for n in NAMES}  # moves to production

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.registry.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _production(self, name: str) -> str | None:
        return next((v for v, s in self.stages[name].items() if s is P), None)

    def _versions(self) -> list[tuple[str, str]]:
        return [(n, v) for n in NAMES for v in self.stages[n]]

    @initialize()
    def seed(self) -> None:
        """Start with a few versions so that short runs reach deep states."""
        for name in ("alpha", "alpha", "alpha", "beta"):
            self.register(name)

    @rule(name=PICK_NAME)
    def register(self, name: str) -> None:
        mv = self.run(self.registry.register_version(name, make_spec(), fake_artifact(16)))
        assert mv.version not in self.stages[name]
        self.stages[name][mv.version] = D

    @precondition(lambda self: self._versions())
    @rule(data=st.data(), to=st.sampled_from(list(Stage)), force=st.booleans())
    def transition(self, data: st.DataObject, to: Stage, force: bool) -> None:
        name, version = data.draw(st.sampled_from(self._versions()))
        src = self.stages[name][version]
        allowed = (src, to) in VALID and (force or (src, to) != (P, A))
        if not allowed:
            try:
                self.run(self.registry.transition(name, version, to, force=force))
            except InvalidStageTransitionError:
                return
            raise AssertionError(f"{src.value}->{to.value} (force={force}) was allowed")
        moved = self.run(self.registry.transition(name, version, to, force=force))
        self._moved(name, version, to, moved)

    def _moved(self, name: str, version: str, to: Stage, moved: ModelVersion) -> None:
        """Check a successful move and apply it to the reference model."""
        assert (moved.version, moved.stage) == (version, to)
        if to is P:
            current = self._production(name)
            if current is not None:
                self.stages[name][current] = S
            self.promoted[name].append(version)
        self.stages[name][version] = to

    def _in_stage(self, stage: Stage) -> list[tuple[str, str]]:
        return [(n, v) for n, v in self._versions() if self.stages[n][v] is stage]

    @precondition(lambda self: self._in_stage(D) or self._in_stage(S))
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A valid forward move (development->staging or staging->production), to reach
        the interesting states more often than random moves do."""
        name, version = data.draw(st.sampled_from(self._in_stage(D) + self._in_stage(S)))
        to = S if self.stages[name][version] is D else P
        self._moved(name, version, to, self.run(self.registry.transition(name, version, to)))

    @rule(name=PICK_NAME)
    def rollback(self, name: str) -> None:
        current = self._production(name)
        previous = next(
            (
                v
                for v in reversed(self.promoted[name])
                if v != current and self.stages[name][v] is not A
            ),
            None,
        )
        if previous is None:
            if not self.stages[name]:
                return  # unknown model: covered elsewhere
            try:
                self.run(self.registry.rollback(name))
            except InvalidStageTransitionError:
                return
            raise AssertionError(f"rollback of {name} succeeded with nothing to restore")
        restored = self.run(self.registry.rollback(name))
        assert restored.version == previous
        if current is not None:
            self.stages[name][current] = S
        self.stages[name][previous] = P
        self.promoted[name].append(previous)

    @invariant()
    def at_most_one_production_and_stages_match(self) -> None:
        models = {m.name: m for m in self.run(self.registry.list_models())}
        for name in NAMES:
            stored = {v.version: v.stage for v in models[name].versions} if name in models else {}
            assert stored == self.stages[name]
            assert list(stored.values()).count(P) <= 1

    @invariant()
    def audit_trail_replays_to_stored_stages(self) -> None:
        rows = 0
        for name in NAMES:
            if not self.stages[name]:
                continue
            replay: dict[str, Stage] = {}
            for h in self.run(self.registry.history(name)):
                assert h.from_stage == replay.get(h.version)
                replay[h.version] = h.to_stage
                rows += 1
            assert replay == self.stages[name]
        events = self.run(self.registry.events_since(0, limit=10_000))
        assert len(events) == rows


StageMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    # No explain phase: on Python < 3.12 its tracer makes a failing run take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
test_stage_machine_random_moves_keep_invariants = StageMachine.TestCase
