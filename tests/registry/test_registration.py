"""Registering versions: all-or-nothing writes, versions, validation, metadata round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from registry import (
    ArtifactNotFoundError,
    ConflictError,
    InvalidArgumentError,
    ModelNotFoundError,
    Registry,
    Stage,
    VersionNotFoundError,
)
from registry.artifacts import sha256_hex
from tests.helpers import execute_sql, fake_artifact, make_spec


async def _nothing_written(registry: Registry, artifact: bytes) -> None:
    assert await registry.list_models() == []
    assert await registry.last_event_id() == 0
    with pytest.raises(ArtifactNotFoundError):
        await registry.load_artifact(sha256_hex(artifact))


async def test_register_version_new_model_creates_development_version(
    registry: Registry,
) -> None:
    artifact = fake_artifact()

    mv = await registry.register_version(
        "btc-usd.lgbm", make_spec(), artifact, profile=b"profile", actor="ci", reason="nightly"
    )

    assert (mv.name, mv.version, mv.stage) == ("btc-usd.lgbm", "1.0.0", Stage.DEVELOPMENT)
    assert (mv.sha256, mv.size, mv.has_profile) == (sha256_hex(artifact), len(artifact), True)
    assert await registry.get_version("btc-usd.lgbm", "1.0.0") == mv
    assert (await registry.get_model("btc-usd.lgbm")).versions == (mv,)
    [entry] = await registry.history("btc-usd.lgbm")
    assert (entry.from_stage, entry.to_stage, entry.kind) == (None, Stage.DEVELOPMENT, "register")
    assert (entry.actor, entry.reason) == ("ci", "nightly")
    [event] = await registry.events_since(0)
    assert (event.kind, event.name, event.version) == ("version_registered", mv.name, "1.0.0")
    assert event.payload["sha256"] == mv.sha256


async def test_register_version_spec_round_trips_exactly(registry: Registry) -> None:
    spec = make_spec(
        training_start=datetime(2024, 1, 1, tzinfo=UTC),
        training_end=datetime(2024, 6, 30, 23, 59, 59, 123456, tzinfo=UTC),
        training_duration_seconds=12.5,
        trained_at=datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        trained_by="retrainer",
        preprocessing={"scaler": {"mean": [0.1, 0.2], "scale": [1.0, 2.0]}},
        feature_importance={"f0": 0.5, "f1": 0.3, "f2": 0.2},
        validation_metrics={"auc": 0.7},
        test_metrics={"auc": 0.68},
        description="first",
    )

    mv = await registry.register_version("m", spec, fake_artifact())

    assert mv.spec == spec
    assert (await registry.get_version("m", mv.version)).spec == spec


async def test_register_version_auto_increments_highest_patch(registry: Registry) -> None:
    async def register(name: str, version: str | None = None) -> str:
        mv = await registry.register_version(name, make_spec(), fake_artifact(), version=version)
        return mv.version

    versions = [
        await register("m"),
        await register("m"),
        await register("m", "2.3.0"),
        await register("m", "1.9.0"),
        await register("m"),
        await register("other"),
    ]

    assert versions == ["1.0.0", "1.0.1", "2.3.0", "1.9.0", "2.3.1", "1.0.0"]


async def test_register_version_duplicate_raises_conflict_and_writes_nothing(
    registry: Registry,
) -> None:
    await registry.register_version("m", make_spec(), fake_artifact(), version="1.2.3")
    before = (await registry.history("m"), await registry.last_event_id())
    artifact = fake_artifact()

    with pytest.raises(ConflictError, match=r"'1\.2\.3' is already registered"):
        await registry.register_version("m", make_spec(), artifact, version="1.2.3")

    assert (await registry.history("m"), await registry.last_event_id()) == before
    assert len((await registry.get_model("m")).versions) == 1
    with pytest.raises(ArtifactNotFoundError):
        await registry.load_artifact(sha256_hex(artifact))


@pytest.mark.parametrize(
    "name", ["", "-lead", ".hidden", "has space", "slash/name", "é", "x" * 129, "a\n"]
)
async def test_register_version_invalid_name_raises_invalid_argument(
    registry: Registry, name: str
) -> None:
    artifact = fake_artifact()

    with pytest.raises(InvalidArgumentError, match="invalid model name"):
        await registry.register_version(name, make_spec(), artifact)

    await _nothing_written(registry, artifact)


@pytest.mark.parametrize(
    "version", ["1", "1.0", "v1.0.0", "1.0.0.0", "1.0.0-", "1.0.0+", "1.0.x", " 1.0.0"]
)
async def test_register_version_invalid_version_raises_invalid_argument(
    registry: Registry, version: str
) -> None:
    artifact = fake_artifact()

    with pytest.raises(InvalidArgumentError, match="invalid version"):
        await registry.register_version("m", make_spec(), artifact, version=version)

    await _nothing_written(registry, artifact)


@pytest.mark.parametrize("version", ["0.0.1", "10.20.30", "1.0.0-rc.1", "1.0.0+build.5"])
async def test_register_version_semver_with_suffix_is_accepted(
    registry: Registry, version: str
) -> None:
    mv = await registry.register_version("m", make_spec(), fake_artifact(), version=version)

    assert mv.version == version


async def test_register_version_bad_spec_or_artifact_raises_invalid_argument(
    registry: Registry,
) -> None:
    with pytest.raises(InvalidArgumentError, match="finite"):
        await registry.register_version(
            "m", make_spec(metrics={"loss": float("nan")}), fake_artifact()
        )
    with pytest.raises(InvalidArgumentError, match="tag 'x' must be a string"):
        await registry.register_version("m", make_spec(tags={"x": object()}), fake_artifact())
    with pytest.raises(InvalidArgumentError, match="JSON"):
        await registry.register_version(
            "m", make_spec(hyperparameters={"x": object()}), fake_artifact()
        )
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        await registry.register_version("m", make_spec(), b"")
    assert await registry.list_models() == []


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"model_type": ""}, "VersionSpec.model_type must not be empty"),
        ({"features": ("f0", "")}, "VersionSpec.features must be non-empty strings"),
        ({"features": ("f0", 1)}, "VersionSpec.features must be non-empty strings"),
        ({"features": ("f0", "f1", "f0")}, "VersionSpec.features has duplicates"),
        ({"training_duration_seconds": float("inf")}, "training_duration_seconds must be a finite"),
        ({"training_duration_seconds": "12s"}, "training_duration_seconds must be a finite"),
        ({"signature": {"x": float("nan")}}, "VersionSpec.signature must be JSON-serializable"),
        ({"training_samples": -1}, "training_samples must be an integer from 0"),
        ({"training_samples": 10**30}, "training_samples must be an integer from 0"),
        ({"metrics": {"accuracy": "high"}}, "VersionSpec.metrics must map names to finite"),
        ({"metrics": {"accuracy": None}}, "VersionSpec.metrics must map names to finite"),
        ({"feature_importance": {"f0": [1, 2]}}, "feature_importance must map names to finite"),
        ({"description": "d" * 4097}, "description has 4097 characters; at most 4096"),
        ({"target": "t" * 257}, "VersionSpec.target has 257 characters"),
        ({"tags": {f"k{i}": "v" for i in range(65)}}, "65 tags; at most 64"),
        ({"hyperparameters": {"blob": "h" * 70_000}}, "at most 65536 are allowed"),
        ({"hyperparameters": _nested(40)}, "nests deeper than 32 levels"),
        ({"hyperparameters": _nested(5000)}, "nests deeper than 32 levels"),
        (
            {"trained_at": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))},
            "trained_at .* is out of range",
        ),
    ],
    ids=[
        "empty-type",
        "empty-feature",
        "non-str-feature",
        "duplicate-feature",
        "inf-duration",
        "str-duration",
        "nan-signature",
        "negative-samples",
        "huge-samples",
        "text-metric",
        "null-metric",
        "list-importance",
        "long-description",
        "long-target",
        "many-tags",
        "big-document",
        "deep-document",
        "very-deep-document",
        "date-beyond-utc",
    ],
)
async def test_register_version_bad_spec_field_raises_invalid_argument_naming_it(
    registry: Registry, spec: dict[str, object], expected: str
) -> None:
    artifact = fake_artifact()

    with pytest.raises(InvalidArgumentError, match=expected):
        await registry.register_version("m", make_spec(**spec), artifact)

    await _nothing_written(registry, artifact)


async def test_register_version_spec_of_wrong_type_raises_invalid_argument(
    registry: Registry,
) -> None:
    with pytest.raises(InvalidArgumentError, match="spec must be a VersionSpec, got dict"):
        await registry.register_version("m", {"model_type": "x"}, fake_artifact())  # type: ignore[arg-type]

    assert await registry.list_models() == []


async def test_register_version_same_bytes_stored_once(registry: Registry, db_url: str) -> None:
    artifact = fake_artifact()

    a = await registry.register_version("a", make_spec(), artifact)
    b = await registry.register_version("b", make_spec(), artifact)

    assert a.sha256 == b.sha256
    rows = await execute_sql(db_url, "SELECT count(*) FROM artifacts")
    assert rows[0][0] == 1
    assert await registry.load_artifact(a.sha256) == artifact


async def test_register_version_datetimes_read_back_tz_aware_utc(registry: Registry) -> None:
    plus_two = timezone(timedelta(hours=2))
    spec = make_spec(
        training_start=datetime(2024, 1, 1, 2, 0, tzinfo=plus_two),
        training_end=datetime(2024, 2, 1, 12, 0),  # naive: taken as UTC
    )

    await registry.register_version("m", spec, fake_artifact())
    mv = await registry.get_version("m", "1.0.0")

    assert mv.spec.training_start == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert mv.spec.training_end == datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
    stamps = [mv.spec.training_start, mv.spec.training_end, mv.created_at, mv.updated_at]
    stamps += [(await registry.get_model("m")).created_at]
    stamps += [h.at for h in await registry.history("m")]
    stamps += [e.at for e in await registry.events_since(0)]
    assert all(t is not None and t.utcoffset() == timedelta(0) for t in stamps)
    assert abs(datetime.now(UTC) - mv.created_at) < timedelta(minutes=1)


async def test_lookups_unknown_names_raise_not_found(registry: Registry) -> None:
    await registry.register_version("m", make_spec(), fake_artifact())

    with pytest.raises(ModelNotFoundError, match="'nope' is not registered"):
        await registry.get_model("nope")
    with pytest.raises(ModelNotFoundError):
        await registry.production_version("nope")
    with pytest.raises(VersionNotFoundError, match=r"has no version '2\.0\.0'"):
        await registry.get_version("m", "2.0.0")
    with pytest.raises(VersionNotFoundError):
        await registry.load_profile("m", "2.0.0")
    assert await registry.production_version("m") is None


async def test_list_models_sorted_with_versions_in_registration_order(
    registry: Registry,
) -> None:
    await registry.register_version("zeta", make_spec(), fake_artifact())
    await registry.register_version("alpha", make_spec(), fake_artifact(), version="3.0.0")
    await registry.register_version("alpha", make_spec(), fake_artifact(), version="1.0.0")

    models = await registry.list_models()

    assert [m.name for m in models] == ["alpha", "zeta"]
    assert [v.version for v in models[0].versions] == ["3.0.0", "1.0.0"]
    assert models[0].production is None


async def test_load_profile_returns_stored_bytes_or_none(registry: Registry) -> None:
    with_profile = await registry.register_version(
        "m", make_spec(), fake_artifact(), profile=b"\x00profile\xff"
    )
    without = await registry.register_version("m", make_spec(), fake_artifact())

    assert await registry.load_profile("m", with_profile.version) == b"\x00profile\xff"
    assert await registry.load_profile("m", without.version) is None
    assert without.has_profile is False


async def test_audit_text_is_bounded_on_every_change(registry: Registry) -> None:
    mv = await registry.register_version("m", make_spec(), fake_artifact())
    long_reason, long_actor = "r" * 4097, "a" * 257
    for call in (
        lambda: registry.register_version("m", make_spec(), fake_artifact(), reason=long_reason),
        lambda: registry.register_version("m", make_spec(), fake_artifact(), actor=long_actor),
        lambda: registry.transition("m", mv.version, "staging", reason=long_reason),
        lambda: registry.archive("m", mv.version, actor=long_actor),
    ):
        with pytest.raises(InvalidArgumentError, match="characters; at most"):
            await call()
    # Nothing of the refused changes was written.
    assert [v.version for v in (await registry.get_model("m")).versions] == [mv.version]
    assert (await registry.get_version("m", mv.version)).stage.value == "development"
    assert len(await registry.history("m")) == 1
