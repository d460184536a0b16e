"""Registry retraining run methods, each one transaction over ``registry.sql.retraining``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from registry.entities import RetrainingRun, RetrainingState
from registry.errors import ExperimentNotFoundError, InvalidArgumentError
from registry.rules.health import (
    check_details,
    check_duration,
    check_finish_state,
    check_label,
    check_message,
    check_page,
    check_row_id,
    parse_retraining_state,
    truncate_message,
)
from registry.rules.values import MAX_LABEL_CHARS, check_text
from registry.sql import retraining
from registry.store.transactions import Store


class RetrainingStore(Store):
    """Start, heartbeat, finish, expire and read retraining runs; one transaction each."""

    async def start_retraining(
        self,
        model: str,
        *,
        trigger: str,
        reason: str,
        parent_version: str,
        owner: str,
        details: Mapping[str, Any] | None = None,
    ) -> RetrainingRun:
        """Start a retraining run of a registered model, unless one is running.

        At most one run per model is running, across every gateway on the database: of
        racing starts exactly one succeeds. A run whose owner died stops blocking when
        :meth:`expire_retraining` fails it. Writes a ``retraining_changed`` event.

        Args:
            model: the model to retrain.
            trigger: why it started, lower snake case, e.g. "drift", "schedule", "admin".
            reason: for a person, at most 2,000 characters.
            parent_version: the production version it starts from ("" if none); must be
                a version of the model.
            owner: the gateway process running it, 1-256 characters.
            details: a JSON object of at most 256 KiB (None: {}).

        Returns:
            The running run.

        Raises:
            InvalidArgumentError: a value out of bounds (nothing is written).
            ModelNotFoundError, VersionNotFoundError: unknown model or parent version.
            RetrainingInProgressError: the model has a running run (named in the error).
        """
        trigger = check_label(trigger, "retraining trigger")
        reason = check_message(reason, "retraining reason")
        parent_version = check_text(parent_version, "parent_version", 64)
        owner = check_text(owner, "owner", MAX_LABEL_CHARS)
        if not owner:
            raise InvalidArgumentError("owner must name the process running the retraining")
        document = check_details(details, "retraining run details")
        async with self._write() as session:
            row = await retraining.start(
                session,
                model,
                trigger=trigger,
                reason=reason,
                parent_version=parent_version,
                owner=owner,
                details=document,
            )
            return row.to_entity()

    async def heartbeat_retraining(self, run_id: int) -> RetrainingRun:
        """Record that a running run is alive (its ``heartbeat_at`` becomes now).

        Raises:
            RetrainingRunNotFoundError: no run has that id.
            RetrainingPreconditionError: the run is no longer running — finished, or
                failed by :meth:`expire_retraining`: its owner should stop training.
        """
        async with self._write() as session:
            return (await retraining.heartbeat(session, run_id)).to_entity()

    async def finish_retraining(
        self,
        run_id: int,
        state: RetrainingState | str,
        *,
        new_version: str = "",
        experiment_id: int | None = None,
        error: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> RetrainingRun:
        """Finish a running run. Of racing finishes (or a finish and an expiry) one wins.

        Writes a ``retraining_changed`` event.

        Args:
            run_id: the run.
            state: succeeded, rejected, failed or cancelled.
            new_version: the candidate it registered, a version of the run's model
                (required to succeed).
            experiment_id: the candidate's validation experiment, of the same model.
            error: what went wrong; cut to 2,000 characters (it comes from a trainer).
            details: merged into the run's details (its keys win); the result must stay
                a JSON object of at most 256 KiB.

        Returns:
            The finished run.

        Raises:
            InvalidArgumentError: ``state`` unknown or running, succeeded without
                ``new_version``, an experiment of another model, or bad details.
            RetrainingRunNotFoundError: no run has that id.
            RetrainingPreconditionError: the run is not running (already finished or
                expired); nothing changes.
            VersionNotFoundError: ``new_version`` is not a version of the run's model.
            ExperimentNotFoundError: unknown ``experiment_id``.
        """
        target = check_finish_state(state)
        new_version = check_text(new_version, "new_version", 64)
        if experiment_id is not None:
            check_row_id(experiment_id, ExperimentNotFoundError)
        error = truncate_message(error)
        document = check_details(details, "retraining run details")
        async with self._write() as session:
            row = await retraining.finish(
                session,
                run_id,
                target,
                new_version=new_version,
                experiment_id=experiment_id,
                error=error,
                details=document,
            )
            return row.to_entity()

    async def expire_retraining(self, *, stale_after: timedelta) -> list[RetrainingRun]:
        """Fail every running run whose last heartbeat is older than ``stale_after``.

        A gateway that died mid-run stops heartbeating; this frees its model for the
        next run. The error says when the last heartbeat was. One ``retraining_changed``
        event per run.

        Args:
            stale_after: how long without a heartbeat a run is taken for dead (>= 0).

        Returns:
            The runs failed by this call, by id.

        Raises:
            InvalidArgumentError: ``stale_after`` is not a timedelta from 0 to 36,600 days.
        """
        stale_after = check_duration(stale_after, "stale_after")
        async with self._write() as session:
            return [r.to_entity() for r in await retraining.expire(session, stale_after)]

    async def get_retraining_run(self, run_id: int) -> RetrainingRun:
        """Return one retraining run.

        Raises:
            RetrainingRunNotFoundError: no run has that id.
            InvalidArgumentError: ``run_id`` is not an integer.
        """
        async with self._read() as session:
            return (await retraining.get(session, run_id)).to_entity()

    async def list_retraining_runs(
        self,
        *,
        model: str | None = None,
        state: RetrainingState | str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[RetrainingRun]:
        """Return retraining runs newest first (by id).

        Args:
            model: only this model's runs.
            state: only runs in this state.
            limit: page size, 1..1000.
            before_id: only runs with a smaller id (the last id of the previous page).

        Raises:
            InvalidArgumentError: a bad state, limit or ``before_id``.
            ModelNotFoundError: ``model`` is not registered.
        """
        limit, before_id = check_page(limit, before_id)
        wanted = None if state is None else parse_retraining_state(state)
        async with self._read() as session:
            rows = await retraining.list_rows(
                session, model=model, state=wanted, limit=limit, before_id=before_id
            )
            return [r.to_entity() for r in rows]
