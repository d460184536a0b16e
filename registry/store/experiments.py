"""Registry A/B experiment methods, each one transaction over ``registry.sql.experiments``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from registry.entities import (
    ArmMoments,
    Experiment,
    ExperimentLook,
    ExperimentSpec,
    ExperimentState,
    ExperimentTransition,
)
from registry.errors import InvalidArgumentError
from registry.rules.experiments import parse_state
from registry.rules.values import is_finite_number
from registry.schema import ExperimentLookRow, utcnow
from registry.sql import experiment_reads, experiments
from registry.store.transactions import Store


class ExperimentStore(Store):
    """Create, read and move experiments; each method is one transaction."""

    async def create_experiment(
        self,
        spec: ExperimentSpec,
        *,
        actor: str = "unknown",
        reason: str = "",
        start: bool = True,
    ) -> Experiment:
        """Create an A/B experiment between two versions of one model.

        Args:
            spec: the configuration: model, control and treatment versions, strategy
                (``rules.experiments.STRATEGIES``), metric (``rules.experiments.METRICS``), split
                (treatment share, 0 < split < 1), epsilon (0..1), confidence (0 < c < 1),
                min_samples (>= 1), min_detectable_effect (>= 0), max_loss (None or > 0),
                end_time (None or tz-aware, in the future).
            actor: who (audit trail).
            reason: why (audit trail).
            start: create it running (``started_at`` set) rather than created.

        Returns:
            The stored experiment.

        Raises:
            InvalidArgumentError: a spec value out of range (the message names the field
                and what is allowed).
            ModelNotFoundError, VersionNotFoundError: unknown model or version.
            ExperimentPreconditionError: the versions are the same, archived, or take
                different features.
            ExperimentConflictError: ``start`` and the model already has a running or
                paused experiment (named in the error); the database enforces this too.
        """
        async with self._write() as session:
            row = await experiments.create(session, spec, actor=actor, reason=reason, start=start)
            return row.to_entity()

    async def get_experiment(self, experiment_id: int) -> Experiment:
        """Return one experiment.

        Raises:
            ExperimentNotFoundError: no experiment has that id.
        """
        async with self._read() as session:
            return (await experiment_reads.get(session, experiment_id)).to_entity()

    async def list_experiments(
        self,
        *,
        model: str | None = None,
        states: Iterable[ExperimentState | str] | None = None,
    ) -> list[Experiment]:
        """Return experiments ordered by id.

        Args:
            model: only this model's experiments (None: all models).
            states: only experiments in these states (None: all states).

        Returns:
            The experiments, oldest first.

        Raises:
            ModelNotFoundError: ``model`` is not registered.
            InvalidArgumentError: an unknown state name.
        """
        async with self._read() as session:
            rows = await experiment_reads.list_rows(session, model=model, states=states)
            return [r.to_entity() for r in rows]

    async def experiment_history(self, experiment_id: int) -> list[ExperimentTransition]:
        """Return an experiment's audit trail: its creation and every state change.

        Raises:
            ExperimentNotFoundError: no experiment has that id.
        """
        async with self._read() as session:
            return [r.to_entity() for r in await experiment_reads.history(session, experiment_id)]

    async def transition_experiment(
        self,
        experiment_id: int,
        to: ExperimentState | str,
        *,
        actor: str = "unknown",
        reason: str = "",
        winner: str = "",
        final_results: Mapping[str, Any] | None = None,
    ) -> Experiment:
        """Move an experiment to another state.

        Allowed: created -> running | stopped; running -> paused | completed | stopped;
        paused -> running | completed | stopped. Completed and stopped are final. The move
        is checked against the state read under lock, so of two writers racing to end an
        experiment exactly one succeeds.

        Args:
            experiment_id: the experiment.
            to: target state (an ExperimentState or its string value).
            actor: who (audit trail).
            reason: why (audit trail; stored as ``end_reason`` when the move ends it).
            winner: "control", "treatment" or "" — only on completed/stopped.
            final_results: JSON-serializable results — only on completed/stopped.

        Returns:
            The experiment after the move.

        Raises:
            ExperimentNotFoundError: unknown id.
            InvalidArgumentError: unknown state or winner, non-JSON results, or results on
                a move that does not end the experiment.
            ExperimentPreconditionError: the move is not allowed from the current state
                (message names both and the allowed targets), or, to running, a version is
                archived.
            ExperimentConflictError: starting it while another experiment of the model is
                running or paused.
        """
        target = parse_state(to)
        async with self._write() as session:
            row = await experiments.transition(
                session,
                experiment_id,
                target,
                actor=actor,
                reason=reason,
                winner=winner,
                final_results=final_results,
            )
            return row.to_entity()

    async def set_experiment_tau2(self, experiment_id: int, tau2: float) -> Experiment:
        """Fix the sequential test's mixing variance τ² once: the first writer wins.

        Monitor state, not an admin change: no audit row or event is written.

        Args:
            experiment_id: the experiment.
            tau2: the value to store if none is stored yet (finite, > 0).

        Returns:
            The experiment with the stored τ² (this call's or an earlier writer's).

        Raises:
            ExperimentNotFoundError: unknown id.
            InvalidArgumentError: ``tau2`` not finite and > 0.
        """
        async with self._write() as session:
            return (await experiments.set_tau2(session, experiment_id, tau2)).to_entity()

    async def append_look(
        self, experiment_id: int, control: ArmMoments, treatment: ArmMoments
    ) -> ExperimentLook:
        """Store one look at an experiment, unless it repeats the latest stored one.

        Monitor state, not an admin change: no audit row or event is written.

        Args:
            experiment_id: the experiment.
            control: the control arm's moments now.
            treatment: the treatment arm's moments now.

        Returns:
            The stored look (the latest one when nothing changed since).

        Raises:
            ExperimentNotFoundError: unknown id.
            InvalidArgumentError: a count below 0 or a moment that is not finite.
        """
        for arm in (control, treatment):
            values = (arm.mean, arm.m2, arm.m3, arm.m4)
            if arm.n < 0 or not all(is_finite_number(v) for v in values):
                raise InvalidArgumentError(f"invalid arm moments {arm!r}")
        async with self._write() as session:
            await experiment_reads.get(session, experiment_id)
            last = await session.scalar(
                select(ExperimentLookRow)
                .where(ExperimentLookRow.experiment_id == experiment_id)
                .order_by(ExperimentLookRow.id.desc())
                .limit(1)
            )
            if last is not None:
                stored = last.to_entity()
                if (stored.control, stored.treatment) == (control, treatment):
                    return stored
            row = ExperimentLookRow(
                experiment_id=experiment_id,
                at=utcnow(),
                **{f"{k}_c": getattr(control, k) for k in ("n", "mean", "m2", "m3", "m4")},
                **{f"{k}_t": getattr(treatment, k) for k in ("n", "mean", "m2", "m3", "m4")},
            )
            session.add(row)
            await session.flush()
            return row.to_entity()

    async def experiment_looks(
        self, experiment_id: int, *, after: int = 0, limit: int = 10_000
    ) -> list[ExperimentLook]:
        """The stored looks of an experiment after look id ``after``, oldest first.

        Raises:
            ExperimentNotFoundError: unknown id.
        """
        async with self._read() as session:
            await experiment_reads.get(session, experiment_id)
            rows = await session.scalars(
                select(ExperimentLookRow)
                .where(
                    ExperimentLookRow.experiment_id == experiment_id,
                    ExperimentLookRow.id > after,
                )
                .order_by(ExperimentLookRow.id)
                .limit(limit)
            )
            return [row.to_entity() for row in rows]
