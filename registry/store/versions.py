"""Registry writes to model versions: register, stage transitions, archive, rollback."""

from __future__ import annotations

from sqlalchemy import select

from registry import artifacts, crashpoints
from registry.entities import ModelVersion, Stage, VersionSpec
from registry.errors import ConflictError, InvalidArgumentError, InvalidStageTransitionError
from registry.rules import naming, stages
from registry.rules.values import check_audit
from registry.rules.versions import version_columns
from registry.schema import ModelVersionRow, StageTransitionRow, utcnow
from registry.sql.events import VERSION_REGISTERED, append_event
from registry.sql.lookups import model_row, production_row, version_row
from registry.sql.versions import (
    ensure_model,
    flush_checked,
    move,
    parse_stage,
    rollback_rows,
    subject,
)
from registry.store.transactions import Store


class VersionStore(Store):
    """Writes to model versions; each method is one write transaction that locks the model."""

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
        columns = version_columns(spec)
        sha256 = artifacts.sha256_hex(artifact)

        check_audit(actor, reason)
        async with self._write() as session:
            at = utcnow()
            model = await ensure_model(session, name, at)
            existing = list(
                await session.scalars(
                    select(ModelVersionRow.version).where(ModelVersionRow.model_id == model.id)
                )
            )
            if version is None:
                version = naming.next_version(existing)
            elif version in existing:
                raise ConflictError(f"{subject(name, version)} is already registered")
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
            await flush_checked(session, name, version)
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
            await append_event(
                session,
                VERSION_REGISTERED,
                name,
                version,
                {"stage": Stage.DEVELOPMENT.value, "sha256": sha256, "size": len(artifact)},
                at=at,
            )
            return row.to_entity()

    async def transition(
        self,
        name: str,
        version: str,
        to: Stage | str,
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
            InvalidArgumentError: unknown stage, or ``kind`` not lower snake case.
            ModelNotFoundError, VersionNotFoundError: unknown name or version.
            InvalidStageTransitionError: the move is not allowed (message lists the
                allowed targets) or needs ``force``.
            ConflictError: a concurrent change made the move impossible.
        """
        target = parse_stage(to)
        naming.check_kind(kind)
        async with self._write() as session:
            at = utcnow()
            model = await model_row(session, name, lock=True)
            row = await version_row(session, model, version)
            stages.check_stage_move(
                Stage(row.stage), target, force=force, subject=subject(name, version)
            )
            if target is Stage.PRODUCTION:
                current = await production_row(session, model)
                if current is not None:
                    await move(
                        session,
                        current,
                        Stage.STAGING,
                        actor=actor,
                        reason=f"replaced in production by {version}"
                        + (f": {reason}" if reason else ""),
                        kind="demote",
                        at=at,
                    )
            await move(session, row, target, actor=actor, reason=reason, kind=kind, at=at)
            if target is Stage.PRODUCTION:
                crashpoints.reached("promote.before_commit")
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
            ModelNotFoundError, VersionNotFoundError: unknown name or version.
            InvalidStageTransitionError: already archived, or production without ``force``.
        """
        return await self.transition(
            name, version, Stage.ARCHIVED, actor=actor, reason=reason, force=force
        )

    async def rollback_target(self, name: str) -> ModelVersion:
        """The version :meth:`rollback` would put back into production now (no change).

        Raises:
            ModelNotFoundError: unknown model.
            InvalidStageTransitionError: no previous production version to go back to.
        """
        async with self._read() as session:
            _, previous = await rollback_rows(session, await model_row(session, name))
            return previous.to_entity()

    async def rollback(
        self,
        name: str,
        *,
        actor: str = "unknown",
        reason: str = "",
        expected_current: str | None = None,
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
            expected_current: roll back only if this version is production now — for
                automatic rollbacks: when several gateways decide to roll back the same
                promotion, exactly one does, and none rolls back a second time.

        Returns:
            The version now in production.

        Raises:
            ModelNotFoundError: unknown model.
            InvalidStageTransitionError: no previous production version to go back to, or
                ``expected_current`` is not production (any more).
        """
        async with self._write() as session:
            at = utcnow()
            model = await model_row(session, name, lock=True)
            current, previous = await rollback_rows(session, model)
            if expected_current is not None and (
                current is None or current.version != expected_current
            ):
                now = "no version" if current is None else f"version {current.version!r}"
                raise InvalidStageTransitionError(
                    f"model {name!r}: {now} is in production, not {expected_current!r}; "
                    "not rolled back"
                )
            if current is not None:
                await move(
                    session,
                    current,
                    Stage.STAGING,
                    actor=actor,
                    reason=reason or f"rolled back to {previous.version}",
                    kind="rollback",
                    at=at,
                )
            await move(
                session,
                previous,
                Stage.PRODUCTION,
                actor=actor,
                reason=reason or "rollback",
                kind="rollback",
                at=at,
            )
            return previous.to_entity()
