"""Registry versions, models, audit rows and events to and from galgate.v1 admin messages;
stage names; ListModels pages."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.brief import brief
from gateway.errors import InvalidInputError
from gateway.wire.common import dumps, timestamp, when
from registry.entities import Event, Model, ModelVersion, Stage, StageTransition, VersionSpec

_DATETIME_FIELDS = frozenset({"training_start", "training_end", "trained_at"})


def spec_json(spec: VersionSpec) -> str:
    """The whole stored metadata as JSON (datetimes as ISO 8601)."""
    return dumps({f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


def spec_from_json(text: str) -> VersionSpec:
    """Inverse of :func:`spec_json`."""
    data: dict[str, Any] = json.loads(text)
    known = {f.name for f in fields(VersionSpec)}
    values = {k: v for k, v in data.items() if k in known}
    for key in _DATETIME_FIELDS & values.keys():
        if values[key] is not None:
            values[key] = datetime.fromisoformat(values[key])
    values["features"] = tuple(values["features"])
    return VersionSpec(**values)


def version_info(v: ModelVersion) -> pb.ModelVersionInfo:
    """Encode one version."""
    signature = v.spec.signature
    return pb.ModelVersionInfo(
        id=v.id,
        name=v.name,
        version=v.version,
        stage=v.stage.value,
        model_type=v.spec.model_type,
        features=list(v.spec.features),
        target=v.spec.target,
        task=str(signature.get("task", "")),
        class_labels=[str(c) for c in signature.get("class_labels", ())],
        sha256=v.sha256,
        size=v.size,
        has_profile=v.has_profile,
        metrics={k: float(x) for k, x in v.spec.metrics.items()},
        tags=dict(v.spec.tags),
        description=v.spec.description,
        created_at=timestamp(v.created_at),
        updated_at=timestamp(v.updated_at),
        metadata_json=spec_json(v.spec),
    )


def version_from_info(info: pb.ModelVersionInfo) -> ModelVersion:
    """Decode a ModelVersionInfo (inverse of :func:`version_info`)."""
    return ModelVersion(
        id=info.id,
        name=info.name,
        version=info.version,
        stage=Stage(info.stage),
        spec=spec_from_json(info.metadata_json),
        sha256=info.sha256,
        size=info.size,
        has_profile=info.has_profile,
        created_at=when(info.created_at),
        updated_at=when(info.updated_at),
    )


def model_info(m: Model, versions: tuple[ModelVersion, ...] | None = None) -> pb.ModelInfo:
    """Encode one model with all its versions (or only ``versions``)."""
    production = m.production
    return pb.ModelInfo(
        name=m.name,
        created_at=timestamp(m.created_at),
        versions=[version_info(v) for v in (m.versions if versions is None else versions)],
        production_version=production.version if production else "",
    )


def model_from_info(info: pb.ModelInfo) -> Model:
    """Decode a ModelInfo with its versions."""
    return Model(
        name=info.name,
        created_at=when(info.created_at),
        versions=tuple(version_from_info(v) for v in info.versions),
    )


def transition_info(t: StageTransition) -> pb.StageTransitionInfo:
    """Encode one audit row."""
    return pb.StageTransitionInfo(
        id=t.id,
        name=t.name,
        version=t.version,
        from_stage=t.from_stage.value if t.from_stage else "",
        to_stage=t.to_stage.value,
        actor=t.actor,
        reason=t.reason,
        kind=t.kind,
        at=timestamp(t.at),
    )


def transition_from_info(info: pb.StageTransitionInfo) -> StageTransition:
    """Decode one audit row."""
    return StageTransition(
        id=info.id,
        name=info.name,
        version=info.version,
        from_stage=Stage(info.from_stage) if info.from_stage else None,
        to_stage=Stage(info.to_stage),
        actor=info.actor,
        reason=info.reason,
        kind=info.kind,
        at=when(info.at),
    )


def event_info(e: Event) -> pb.RegistryEvent:
    """Encode one registry event."""
    return pb.RegistryEvent(
        id=e.id,
        kind=e.kind,
        name=e.name,
        version=e.version,
        payload_json=dumps(dict(e.payload)),
        at=timestamp(e.at),
    )


def event_from_info(info: pb.RegistryEvent) -> Event:
    """Decode one registry event."""
    return Event(
        id=info.id,
        kind=info.kind,
        name=info.name,
        version=info.version,
        payload=json.loads(info.payload_json) if info.payload_json else {},
        at=when(info.at),
    )


def parse_stage(text: str) -> Stage:
    """A Stage from its name; INVALID_ARGUMENT listing the stages otherwise.

    >>> parse_stage("Production").value
    'production'
    """
    try:
        return Stage(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown stage {brief(text)}; expected one of {[s.value for s in Stage]}"
        ) from None


# -- paging ListModels ----------------------------------------------------------------

# Models read from the registry per page when the caller sets no page size.
MODELS_PER_READ = 200


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where the next ListModels page starts: a model name and versions of it to skip."""

    model: str
    skip: int = 0

    def encode(self) -> str:
        """Opaque text for ``next_page_token``."""
        raw = json.dumps({"m": self.model, "s": self.skip}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str) -> PageToken | None:
        """The token a previous page returned (None for the first page).

        Raises:
            InvalidInputError: the text is not a token this gateway issued.
        """
        if not text:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode()))
            token = cls(model=data["m"], skip=data["s"])
            if not isinstance(token.model, str) or not isinstance(token.skip, int):
                raise TypeError
            if token.skip < 0:
                raise ValueError
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
            raise InvalidInputError(
                f"page_token {brief(text)} is not a next_page_token of ListModels; send it "
                "exactly as received, or empty for the first page"
            ) from None
        return token


def models_page(
    models: list[Model],
    token: PageToken | None,
    *,
    page_size: int,
    budget: int,
    next_model: str | None,
) -> pb.ListModelsResponse:
    """One ListModels reply of at most ``budget`` bytes.

    A model whose versions do not all fit is continued on the next page (its ModelInfo
    repeats with the remaining versions; clients merge by name).

    Args:
        models: models read from ``token.model`` onwards, at most ``page_size`` of them
            when it is set.
        token: where this page starts (None: the first page).
        page_size: most models in the page (0: as many as fit).
        budget: most bytes of the encoded reply.
        next_model: the name of the model after the last of ``models``, if any.
    """
    reply = pb.ListModelsResponse()
    size = 0
    for model in models:
        skip = token.skip if token is not None and model.name == token.model else 0
        production = model.production
        info = pb.ModelInfo(
            name=model.name,
            created_at=timestamp(model.created_at),
            production_version=production.version if production else "",
        )
        size += info.ByteSize() + 8
        for position, version in enumerate(model.versions[skip:], start=skip):
            encoded = version_info(version)
            cost = encoded.ByteSize() + 8
            if size + cost > budget and (reply.models or info.versions):
                if info.versions:
                    reply.models.append(info)
                reply.next_page_token = PageToken(model.name, position).encode()
                return reply
            info.versions.append(encoded)
            size += cost
        reply.models.append(info)
    if next_model is not None:
        reply.next_page_token = PageToken(next_model).encode()
    return reply
