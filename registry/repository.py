"""The Registry: the public async API over the registry database (one transaction per call)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import artifacts, experiments, naming, predictions, stages
from registry.db import Engines, create_engines, ensure_schema
from registry.entities import (
    ArmAggregate,
    DesiredState,
    Event,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    ExperimentTransition,
    Model,
    ModelVersion,
    OutcomeRecord,
    PredictionRecord,
    ServedVersion,
    Stage,
    StageTransition,
    VersionSpec,
)
from registry.errors import (
    ArtifactNotFoundError,
    ConflictError,
    InvalidArgumentError,
    InvalidStageTransitionError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from registry.events import STAGE_CHANGED, VERSION_REGISTERED, append_event
from registry.schema import (
    EventRow,
    ModelRow,
    ModelVersionRow,
    StageTransitionRow,
    utcnow,
)
from registry.specs import spec_columns

DEFAULT_URL = "sqlite+aiosqlite:///galgate.db"
MAX_EVENTS_PAGE = 10_000
_PRODUCTION_INDEX = "uq_model_versions_one_production"
_VERSION_UNIQUE = "uq_model_versions_model_version"
# SQLite names columns, not indexes, in its messages.
_SQLITE_PRODUCTION = "UNIQUE constraint failed: model_versions.model_id"
_SQLITE_VERSION_UNIQUE = "UNIQUE constraint failed: model_versions.model_id, model_versions.version"


def _constraint_of(exc: IntegrityError) -> str:
    """Best-effort name of the violated constraint or index, for choosing a message."""
    orig = exc.orig
    name = getattr(getattr(orig, "__cause__", None), "constraint_name", None)
    name = name or getattr(orig, "constraint_name", None)
    return name or str(orig)


def _subject(name: str, version: str) -> str:
    return f"model {name!r} version {version!r}"


class Registry:
    """The model registry: versions, stages, artifacts, audit trail and events.

    Every public method runs in exactly one transaction and returns frozen entities.
    Writes begin ``IMMEDIATE`` on SQLite and lock the model row on PostgreSQL, so changes
    to one model are serialized; the at-most-one-production rule is also a partial unique
    index, so the database refuses a second production version whatever the code does.
    """

    def __init__(self, engines: Engines) -> None:
        """Wrap already-prepared engines; use :meth:`open` instead."""
        self._engines = engines
        self._write_sessions = async_sessionmaker(
            engines.writer, expire_on_commit=False, autoflush=False
        )
        self._read_sessions = async_sessionmaker(
            engines.reader, expire_on_commit=False, autoflush=False
        )
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    async def open(
        cls, url: str = DEFAULT_URL, *, echo: bool = False, sqlite_synchronous: str = "NORMAL"
    ) -> Registry:
        """Open the registry database, creating the schema on first use.

        Args:
            url: SQLAlchemy URL; ``sqlite://`` and ``postgresql://`` are rewritten to the
                aiosqlite and asyncpg drivers.
            echo: log every SQL statement.
            sqlite_synchronous: SQLite ``PRAGMA synchronous`` (NORMAL or FULL for power-loss
                durability); ignored on PostgreSQL.

        Returns:
            An open Registry; call :meth:`close` when done (or use ``async with``).

        Raises:
            InvalidArgumentError: unsupported URL.
            SchemaMismatchError: the database was written by a newer schema version.
        """
        engines = create_engines(url, echo=echo, sqlite_synchronous=sqlite_synchronous)
        try:
            await ensure_schema(engines)
        except BaseException:
            await engines.dispose()
            raise
        return cls(engines)

    async def close(self) -> None:
        """Close the database connections. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._engines.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database URL in use (async driver), with any password masked."""
        return self._engines.url.render_as_string(hide_password=True)

    def connect_url(self) -> str:
        """The database URL with its password, for companion connections (e.g. LISTEN)."""
        return self._engines.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engines.dialect

    # -- transactions --------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction; DB errors become registry errors."""
        try:
            async with self._write_sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from exc
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise ConflictError(
                    "the database stayed locked by another writer past the busy timeout; retry"
                ) from exc
            raise

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        """One read transaction (a single snapshot)."""
        async with self._read_sessions() as session, session.begin():
            yield session

    async def _flush(self, session: AsyncSession, name: str, version: str) -> None:
        """Flush, turning the production-index and duplicate-version violations into
        ConflictError with a message that says which rule was hit."""
        try:
            await session.flush()
        except IntegrityError as exc:
            constraint = _constraint_of(exc)
            if constraint in (_PRODUCTION_INDEX, _SQLITE_PRODUCTION):
                raise ConflictError(
                    f"model {name!r} already has a production version (another change was "
                    f"committed concurrently); {version!r} was not promoted"
                ) from exc
            if constraint in (_VERSION_UNIQUE, _SQLITE_VERSION_UNIQUE):
                raise ConflictError(f"{_subject(name, version)} is already registered") from exc
            raise ConflictError(
                f"the change to {_subject(name, version)} conflicts with stored data: {exc.orig}"
            ) from exc

    # -- lookups inside a transaction ---------------------------------------------

    @staticmethod
    async def _model(session: AsyncSession, name: str, *, lock: bool = False) -> ModelRow:
        stmt = select(ModelRow).where(ModelRow.name == name)
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise ModelNotFoundError(name)
        return row

    @staticmethod
    async def _version(session: AsyncSession, model: ModelRow, version: str) -> ModelVersionRow:
        row = await session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.model_id == model.id, ModelVersionRow.version == version
            )
        )
        if row is None:
            raise VersionNotFoundError(model.name, version)
        return row

    @staticmethod
    async def _production(session: AsyncSession, model: ModelRow) -> ModelVersionRow | None:
        return await session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.model_id == model.id,
                ModelVersionRow.stage == Stage.PRODUCTION.value,
            )
        )

    async def _move(
        self,
        session: AsyncSession,
        row: ModelVersionRow,
        to: Stage,
        *,
        actor: str,
        reason: str,
        kind: str,
        at: datetime,
    ) -> None:
        """Change a version's stage and append its audit row and event; flush."""
        from_stage = row.stage
        row.stage = to.value
        row.updated_at = at
        await self._flush(session, row.model.name, row.version)
        session.add(
            StageTransitionRow(
                model_version_id=row.id,
                from_stage=from_stage,
                to_stage=to.value,
                actor=actor,
                reason=reason,
                kind=kind,
                at=at,
            )
        )
        await append_event(
            session,
            STAGE_CHANGED,
            row.model.name,
            row.version,
            {"from": from_stage, "to": to.value, "kind": kind},
            at=at,
        )

    # -- writes --------------------------------------------------------------------

    async def register_version(
        self,
        name: str,
        spec: VersionSpec,
        artifact: bytes,
        *,
        profile: bytes | None = None,
        version: str | None = None,
        actor: str = "unknown",
        reason: str = "",
        validate: Callable[[bytes], object] | None = None,
    ) -> ModelVersion:
        """Register a new version in stage development, with its artifact, all or nothing.

        Args:
            name: model name (``naming.NAME_PATTERN``); the model is created if new.
            spec: the version's metadata.
            artifact: the model bytes; stored once per distinct sha256.
            profile: the reference profile bytes, stored with the version, or None.
            version: explicit semantic version; default ``1.0.0`` for a new model, else
                the highest existing version with patch + 1.
            actor: who registers (audit trail).
            reason: why (audit trail).
            validate: called with ``artifact`` in a worker thread inside the transaction,
                before commit; if it raises, nothing is written and the error propagates.

        Returns:
            The registered version.

        Raises:
            InvalidArgumentError: bad name, version, spec or empty artifact.
            ConflictError: that version already exists.
        """
        naming.check_name(name)
        if version is not None:
            naming.check_version(version)
        if not isinstance(artifact, bytes | bytearray | memoryview) or len(artifact) == 0:
            raise InvalidArgumentError("artifact must be non-empty bytes")
        artifact = bytes(artifact)
        if profile is not None:
            profile = bytes(profile)
        columns = spec_columns(spec)
        sha256 = artifacts.sha256_hex(artifact)

        async with self._write() as session:
            at = utcnow()
            model = await self._ensure_model(session, name, at)
            existing = list(
                await session.scalars(
                    select(ModelVersionRow.version).where(ModelVersionRow.model_id == model.id)
                )
            )
            if version is None:
                version = naming.next_version(existing)
            elif version in existing:
                raise ConflictError(f"{_subject(name, version)} is already registered")
            await artifacts.put_artifact(session, artifact, sha256)
            row = ModelVersionRow(
                model=model,
                version=version,
                stage=Stage.DEVELOPMENT.value,
                sha256=sha256,
                size=len(artifact),
                profile=profile,
                profile_size=None if profile is None else len(profile),
                created_at=at,
                updated_at=at,
                **columns,
            )
            session.add(row)
            await self._flush(session, name, version)
            session.add(
                StageTransitionRow(
                    model_version_id=row.id,
                    from_stage=None,
                    to_stage=Stage.DEVELOPMENT.value,
                    actor=actor,
                    reason=reason,
                    kind="register",
                    at=at,
                )
            )
            await session.flush()
            if validate is not None:
                await asyncio.to_thread(validate, artifact)
            await append_event(
                session,
                VERSION_REGISTERED,
                name,
                version,
                {"stage": Stage.DEVELOPMENT.value, "sha256": sha256, "size": len(artifact)},
                at=at,
            )
            return row.to_entity()

    @staticmethod
    async def _ensure_model(session: AsyncSession, name: str, at: datetime) -> ModelRow:
        """Insert the model row if absent (race-free), then lock and return it."""
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(ModelRow)
            .values(name=name, created_at=at)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return await Registry._model(session, name, lock=True)

    async def transition(
        self,
        name: str,
        version: str,
        to: Stage,
        *,
        actor: str = "unknown",
        reason: str = "",
        force: bool = False,
        kind: str = "transition",
    ) -> ModelVersion:
        """Move a version to another stage.

        Allowed: development -> staging | archived; staging -> production | development |
        archived; production -> staging | archived (needs ``force``); archived ->
        development. Promotion to production demotes the current production version to
        staging in the same transaction (audit kind ``"demote"``).

        Args:
            name: model name.
            version: version string.
            to: target stage (a Stage or its string value).
            actor: who (audit trail).
            reason: why (audit trail).
            force: allow production -> archived, which leaves no production version.
            kind: audit kind recorded for this move, e.g. ``"transition"``.

        Returns:
            The version after the move.

        Raises:
            ModelNotFoundError, VersionNotFoundError: unknown name or version.
            InvalidStageTransitionError: the move is not allowed (message lists the
                allowed targets) or needs ``force``.
            ConflictError: a concurrent change made the move impossible.
        """
        target = self._stage(to)
        naming.check_kind(kind)
        async with self._write() as session:
            at = utcnow()
            model = await self._model(session, name, lock=True)
            row = await self._version(session, model, version)
            stages.check_transition(
                Stage(row.stage), target, force=force, subject=_subject(name, version)
            )
            if target is Stage.PRODUCTION:
                current = await self._production(session, model)
                if current is not None:
                    await self._move(
                        session,
                        current,
                        Stage.STAGING,
                        actor=actor,
                        reason=f"replaced in production by {version}"
                        + (f": {reason}" if reason else ""),
                        kind="demote",
                        at=at,
                    )
            await self._move(session, row, target, actor=actor, reason=reason, kind=kind, at=at)
            return row.to_entity()

    async def archive(
        self,
        name: str,
        version: str,
        *,
        actor: str = "unknown",
        reason: str = "",
        force: bool = False,
    ) -> ModelVersion:
        """Move a version to archived (``force`` needed when it is in production).

        Args:
            name: model name.
            version: version string.
            actor: who (audit trail).
            reason: why (audit trail).
            force: allow archiving the production version.

        Returns:
            The archived version.

        Raises:
            InvalidStageTransitionError: already archived, or production without ``force``.
        """
        return await self.transition(
            name, version, Stage.ARCHIVED, actor=actor, reason=reason, force=force
        )

    async def rollback(
        self, name: str, *, actor: str = "unknown", reason: str = ""
    ) -> ModelVersion:
        """Put the previous production version back into production.

        The previous one is the most recent version, other than the current production
        version, that the audit trail shows moving to production and that is not archived.
        It returns to production from staging or development; the current production
        version (if any) goes to staging. Both moves are recorded with kind ``"rollback"``.

        Args:
            name: model name.
            actor: who (audit trail).
            reason: why (audit trail).

        Returns:
            The version now in production.

        Raises:
            ModelNotFoundError: unknown model.
            InvalidStageTransitionError: no previous production version to go back to.
        """
        async with self._write() as session:
            at = utcnow()
            model = await self._model(session, name, lock=True)
            current = await self._production(session, model)
            candidates = await session.scalars(
                select(ModelVersionRow)
                .join(StageTransitionRow, StageTransitionRow.model_version_id == ModelVersionRow.id)
                .where(
                    ModelVersionRow.model_id == model.id,
                    StageTransitionRow.to_stage == Stage.PRODUCTION.value,
                    ModelVersionRow.stage != Stage.ARCHIVED.value,
                )
                .order_by(StageTransitionRow.id.desc())
            )
            current_id = None if current is None else current.id
            previous = next((r for r in candidates if r.id != current_id), None)
            if previous is None:
                raise InvalidStageTransitionError(
                    f"model {name!r} has no previous production version to roll back to"
                )
            if current is not None:
                await self._move(
                    session,
                    current,
                    Stage.STAGING,
                    actor=actor,
                    reason=reason or f"rolled back to {previous.version}",
                    kind="rollback",
                    at=at,
                )
            await self._move(
                session,
                previous,
                Stage.PRODUCTION,
                actor=actor,
                reason=reason or "rollback",
                kind="rollback",
                at=at,
            )
            return previous.to_entity()

    @staticmethod
    def _stage(to: Stage | str) -> Stage:
        try:
            return Stage(to)
        except ValueError:
            allowed = ", ".join(s.value for s in Stage)
            raise InvalidArgumentError(f"unknown stage {to!r}; expected one of {allowed}") from None

    # -- reads ---------------------------------------------------------------------

    async def list_models(self) -> list[Model]:
        """Return every model with its versions (in registration order), sorted by name.

        Returns:
            The models; empty when none is registered.
        """
        async with self._read() as session:
            models = list(await session.scalars(select(ModelRow).order_by(ModelRow.name)))
            versions = await session.scalars(select(ModelVersionRow).order_by(ModelVersionRow.id))
            by_model: dict[int, list[ModelVersion]] = {m.id: [] for m in models}
            for row in versions:
                by_model.setdefault(row.model_id, []).append(row.to_entity())
            return [m.to_entity(tuple(by_model[m.id])) for m in models]

    async def get_model(self, name: str) -> Model:
        """Return one model with its versions in registration order.

        Args:
            name: model name.

        Returns:
            The model; ``.production`` gives its production version.

        Raises:
            ModelNotFoundError: unknown model.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            rows = await session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.id)
            )
            return model.to_entity(tuple(r.to_entity() for r in rows))

    async def get_version(self, name: str, version: str) -> ModelVersion:
        """Return one version.

        Args:
            name: model name.
            version: version string.

        Returns:
            The version as stored.

        Raises:
            ModelNotFoundError: unknown model.
            VersionNotFoundError: known model, unknown version.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            return (await self._version(session, model, version)).to_entity()

    async def production_version(self, name: str) -> ModelVersion | None:
        """Return the model's production version.

        Args:
            name: model name.

        Returns:
            The production version, or None when the model has none.

        Raises:
            ModelNotFoundError: unknown model.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            row = await self._production(session, model)
            return None if row is None else row.to_entity()

    async def history(self, name: str) -> list[StageTransition]:
        """Return the model's audit trail (registrations and stage changes).

        Args:
            name: model name.

        Returns:
            Every audit row of the model's versions, ordered by id (oldest first).

        Raises:
            ModelNotFoundError: unknown model.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            rows = await session.scalars(
                select(StageTransitionRow)
                .join(StageTransitionRow.model_version)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(StageTransitionRow.id)
            )
            return [r.to_entity() for r in rows]

    async def load_artifact(self, sha256: str) -> bytes:
        """Return the artifact bytes stored under ``sha256``, verified.

        Args:
            sha256: 64 lowercase hex digits.

        Returns:
            The bytes, which hash to ``sha256``.

        Raises:
            InvalidArgumentError: ``sha256`` is not 64 lowercase hex digits.
            ArtifactNotFoundError: nothing is stored under it.
            CorruptArtifactError: the stored bytes no longer hash to ``sha256``.
        """
        artifacts.check_sha256(sha256)
        async with self._read() as session:
            data = await artifacts.get_artifact(session, sha256)
        if data is None:
            raise ArtifactNotFoundError(sha256)
        return data

    async def load_version_artifact(self, name: str, version: str) -> tuple[ModelVersion, bytes]:
        """Return a version and its verified artifact bytes, read in one transaction.

        Args:
            name: model name.
            version: version string.

        Returns:
            (the version, its artifact bytes).

        Raises:
            ModelNotFoundError, VersionNotFoundError: unknown name or version.
            CorruptArtifactError: the stored bytes no longer hash to the version's sha256.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            row = await self._version(session, model, version)
            data = await artifacts.get_artifact(session, row.sha256)
            if data is None:  # the foreign key makes this unreachable short of tampering
                raise ArtifactNotFoundError(row.sha256)
            return row.to_entity(), data

    async def load_profile(self, name: str, version: str) -> bytes | None:
        """Return the version's reference profile.

        Args:
            name: model name.
            version: version string.

        Returns:
            The profile bytes given at registration, or None if none was given.

        Raises:
            ModelNotFoundError, VersionNotFoundError: unknown name or version.
        """
        async with self._read() as session:
            model = await self._model(session, name)
            row = await self._version(session, model, version)
            data = await session.scalar(
                select(ModelVersionRow.profile).where(ModelVersionRow.id == row.id)
            )
            return None if data is None else bytes(data)

    async def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        """Return events with id > ``after_id``, oldest first, at most ``limit``.

        Page by passing the last returned id as the next ``after_id``. Ids are monotonic
        and, on PostgreSQL too, become visible in id order, so a tailer never skips one.

        Args:
            after_id: the last id already seen (0 for all).
            limit: page size, 1..10000.

        Returns:
            Up to ``limit`` events, ordered by id.

        Raises:
            InvalidArgumentError: ``limit`` outside 1..10000 or negative ``after_id``.
        """
        if not 1 <= limit <= MAX_EVENTS_PAGE:
            raise InvalidArgumentError(f"limit must be in 1..{MAX_EVENTS_PAGE}, got {limit}")
        if after_id < 0:
            raise InvalidArgumentError(f"after_id must be >= 0, got {after_id}")
        async with self._read() as session:
            rows = await session.scalars(
                select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
            )
            return [r.to_entity() for r in rows]

    async def last_event_id(self) -> int:
        """Return the id of the newest event.

        Returns:
            The largest event id, or 0 when there is no event.
        """
        async with self._read() as session:
            return int(await session.scalar(select(func.coalesce(func.max(EventRow.id), 0))))

    async def desired_state(self) -> DesiredState:
        """Return what gateways should serve: each model's production version and running
        experiment, as of the last event id, all read from one snapshot.

        Returns:
            DesiredState(event_id, production={name: ServedVersion},
            experiments={name: ExperimentRoute}) — paused, created and ended experiments
            are not routed.
        """
        async with self._read() as session:
            event_id = await session.scalar(select(func.coalesce(func.max(EventRow.id), 0)))
            rows = await session.execute(
                select(ModelRow.name, ModelVersionRow.version, ModelVersionRow.sha256)
                .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
                .where(ModelVersionRow.stage == Stage.PRODUCTION.value)
                .order_by(ModelRow.name)
            )
            production = {
                name: ServedVersion(name=name, version=version, sha256=sha256)
                for name, version, sha256 in rows
            }
            routes = await experiments.running_routes(session)
            return DesiredState(event_id=int(event_id), production=production, experiments=routes)

    # -- experiments ---------------------------------------------------------------

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
                (``experiments.STRATEGIES``), metric (``experiments.METRICS``), split
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
            return (await experiments.get(session, experiment_id)).to_entity()

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
            rows = await experiments.list_rows(session, model=model, states=states)
            return [r.to_entity() for r in rows]

    async def experiment_history(self, experiment_id: int) -> list[ExperimentTransition]:
        """Return an experiment's audit trail: its creation and every state change.

        Raises:
            ExperimentNotFoundError: no experiment has that id.
        """
        async with self._read() as session:
            return [r.to_entity() for r in await experiments.history(session, experiment_id)]

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
        target = experiments.parse_state(to)
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

    # -- prediction log and outcomes -----------------------------------------------

    async def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Insert a batch of logged predictions in one transaction.

        A prediction id already stored is skipped, so retrying a batch is harmless.

        Args:
            records: the predictions.

        Returns:
            How many rows were inserted.

        Raises:
            InvalidArgumentError: a record that is not a PredictionRecord, or a bad id.
        """
        if not records:
            return 0
        async with self._write() as session:
            return await predictions.write_predictions(session, records)

    async def get_prediction(self, prediction_id: str) -> PredictionRecord | None:
        """Return a logged prediction, or None when it is not (or not yet) stored."""
        async with self._read() as session:
            return await predictions.get_prediction(session, prediction_id)

    async def get_predictions(self, prediction_ids: Sequence[str]) -> dict[str, PredictionRecord]:
        """The logged predictions among ``prediction_ids``, by id, in one read.

        Ids not (or not yet) stored are absent from the result.
        """
        async with self._read() as session:
            return await predictions.get_predictions(session, prediction_ids)

    async def record_outcomes(self, outcomes: Sequence[OutcomeRecord]) -> list[bool]:
        """Store outcomes exactly once, all or nothing, durable when this returns.

        The prediction need not be stored yet (the log writer may not have flushed it).

        Args:
            outcomes: the outcomes.

        Returns:
            For each outcome in order: True when it was a duplicate (stored before with
            the same value, or repeated in the batch), False when newly stored.

        Raises:
            InvalidArgumentError: a malformed outcome (bad id, non-finite value).
            OutcomeConflictError: a stored (or earlier in the batch) outcome of the same
                prediction has a different value; nothing of the batch is written.
        """
        if not outcomes:
            return []
        async with self._write() as session:
            return await predictions.record_outcomes(session, outcomes)

    async def get_outcome(self, prediction_id: str) -> OutcomeRecord | None:
        """Return a prediction's recorded outcome, or None."""
        async with self._read() as session:
            return await predictions.get_outcome(session, prediction_id)

    async def arm_aggregates(self, experiment_id: int) -> dict[str, ArmAggregate]:
        """Return each arm's prediction count and metric sums, computed in SQL.

        Args:
            experiment_id: the experiment.

        Returns:
            {"control": ..., "treatment": ...}; zeros where nothing is stored.

        Raises:
            ExperimentNotFoundError: unknown id.
        """
        async with self._read() as session:
            return await predictions.arm_aggregates(session, experiment_id)


__all__ = ["DEFAULT_URL", "Registry"]
