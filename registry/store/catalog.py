"""Registry reads of models and versions: listings, audit trail, artifacts, profiles."""

from __future__ import annotations

from sqlalchemy import select

from registry import artifacts
from registry.entities import Model, ModelVersion, StageTransition
from registry.errors import ArtifactNotFoundError
from registry.schema import ModelRow, ModelVersionRow, StageTransitionRow
from registry.sql.lookups import model_row, production_row, version_row
from registry.store.transactions import Store


class CatalogStore(Store):
    """Reads of models, versions and their bytes; each method is one read transaction."""

    async def list_models(
        self, *, start: str | None = None, limit: int | None = None
    ) -> list[Model]:
        """Return models with their versions (in registration order), sorted by name.

        Args:
            start: only models whose name sorts at or after this one (paging).
            limit: at most this many models.

        Returns:
            The models; empty when none is registered.
        """
        query = select(ModelRow).order_by(ModelRow.name)
        if start is not None:
            query = query.where(ModelRow.name >= start)
        if limit is not None:
            query = query.limit(max(int(limit), 0))
        async with self._read() as session:
            models = list(await session.scalars(query))
            of_models = select(ModelVersionRow).order_by(ModelVersionRow.id)
            if start is not None or limit is not None:  # a page: its models' versions only
                of_models = of_models.where(ModelVersionRow.model_id.in_([m.id for m in models]))
            versions = await session.scalars(of_models)
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
            model = await model_row(session, name)
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
            model = await model_row(session, name)
            return (await version_row(session, model, version)).to_entity()

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
            model = await model_row(session, name)
            row = await production_row(session, model)
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
            model = await model_row(session, name)
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
            model = await model_row(session, name)
            row = await version_row(session, model, version)
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
            model = await model_row(session, name)
            row = await version_row(session, model, version)
            data = await session.scalar(
                select(ModelVersionRow.profile).where(ModelVersionRow.id == row.id)
            )
            return None if data is None else bytes(data)
