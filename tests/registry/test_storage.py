"""Artifacts, events, schema version and connection setup of the registry database."""

from __future__ import annotations

import sqlite3

import pytest

from registry import (
    SCHEMA_VERSION,
    ArtifactNotFoundError,
    CorruptArtifactError,
    InvalidArgumentError,
    Registry,
    SchemaMismatchError,
    Stage,
)
from registry.db import create_engines
from tests.helpers import execute_sql, fake_artifact, make_spec, register_in_stage


async def test_load_artifact_flipped_byte_raises_corrupt(registry: Registry, db_url: str) -> None:
    artifact = fake_artifact(1024)
    mv = await registry.register_version("m", make_spec(), artifact)
    assert await registry.load_artifact(mv.sha256) == artifact
    tampered = bytearray(artifact)
    tampered[500] ^= 0x01

    await execute_sql(
        db_url,
        "UPDATE artifacts SET data = :data WHERE sha256 = :sha",
        {"data": bytes(tampered), "sha": mv.sha256},
    )

    with pytest.raises(CorruptArtifactError) as err:
        await registry.load_artifact(mv.sha256)
    assert err.value.sha256 == mv.sha256
    assert "corrupt" in str(err.value)
    with pytest.raises(CorruptArtifactError):
        await registry.load_version_artifact("m", mv.version)


async def test_load_version_artifact_returns_version_and_bytes(registry: Registry) -> None:
    artifact = fake_artifact()
    mv = await register_in_stage(registry, "m", Stage.PRODUCTION)
    other = await registry.register_version("m", make_spec(), artifact)

    loaded, data = await registry.load_version_artifact("m", other.version)

    assert (loaded, data) == (other, artifact)
    assert (await registry.load_version_artifact("m", mv.version))[0].stage is Stage.PRODUCTION


async def test_load_artifact_unknown_or_malformed_hash_raises(registry: Registry) -> None:
    with pytest.raises(ArtifactNotFoundError):
        await registry.load_artifact("0" * 64)
    with pytest.raises(InvalidArgumentError, match="64 lowercase hexadecimal"):
        await registry.load_artifact("ABC")


async def test_events_since_pages_through_all_events_in_order(registry: Registry) -> None:
    for _ in range(3):
        await register_in_stage(registry, "m", Stage.PRODUCTION)  # 3, 4, 4 events
    everything = await registry.events_since(0)
    assert len(everything) == 11

    pages, cursor = [], 0
    while page := await registry.events_since(cursor, limit=4):
        pages.append(page)
        cursor = page[-1].id

    assert [len(p) for p in pages] == [4, 4, 3]
    assert [e for p in pages for e in p] == everything
    ids = [e.id for e in everything]
    assert ids == sorted(set(ids))
    assert await registry.last_event_id() == ids[-1]
    assert await registry.events_since(ids[-1]) == []
    assert await registry.events_since(ids[5], limit=2) == everything[6:8]


async def test_events_since_bad_arguments_raise_invalid_argument(registry: Registry) -> None:
    with pytest.raises(InvalidArgumentError, match="limit"):
        await registry.events_since(0, limit=0)
    with pytest.raises(InvalidArgumentError, match="after_id"):
        await registry.events_since(-1)
    # A uint64 from the wire that no database integer can hold.
    with pytest.raises(InvalidArgumentError, match=r"after_id must be in 0\.\.9223372036854775807"):
        await registry.events_since(2**64 - 1)


async def test_last_event_id_empty_database_is_zero(registry: Registry) -> None:
    assert await registry.last_event_id() == 0
    assert await registry.events_since(0) == []


async def test_open_newer_schema_version_raises_schema_mismatch(
    registry: Registry, db_url: str
) -> None:
    await registry.register_version("m", make_spec(), fake_artifact())
    await registry.close()
    newer = SCHEMA_VERSION + 1
    await execute_sql(
        db_url, "UPDATE meta SET value = :v WHERE key = 'schema_version'", {"v": str(newer)}
    )

    with pytest.raises(SchemaMismatchError) as err:
        await Registry.open(db_url)

    assert str(newer) in str(err.value)
    assert str(SCHEMA_VERSION) in str(err.value)
    assert "newer" in str(err.value)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("0", "version 0 is older than this code's"), ("two", "version 'two' is not a number")],
    ids=["older", "not-a-number"],
)
async def test_open_unusable_schema_version_raises_schema_mismatch(
    registry: Registry, db_url: str, stored: str, expected: str
) -> None:
    await registry.close()
    await execute_sql(
        db_url, "UPDATE meta SET value = :v WHERE key = 'schema_version'", {"v": stored}
    )

    with pytest.raises(SchemaMismatchError, match=expected) as err:
        await Registry.open(db_url)

    assert str(SCHEMA_VERSION) in str(err.value)


async def test_text_with_nul_is_refused_on_postgresql_and_stored_on_sqlite(
    registry: Registry,
) -> None:
    mv = await register_in_stage(registry, "m", Stage.DEVELOPMENT)

    if registry.dialect == "postgresql":
        with pytest.raises(InvalidArgumentError, match="NUL"):
            await registry.transition("m", mv.version, Stage.STAGING, reason="bad\x00reason")
        with pytest.raises(InvalidArgumentError, match="NUL"):
            await registry.get_model("m\x00")
        assert (await registry.get_version("m", mv.version)).stage is Stage.DEVELOPMENT
    else:
        await registry.transition("m", mv.version, Stage.STAGING, reason="bad\x00reason")
        assert (await registry.history("m"))[-1].reason == "bad\x00reason"


async def test_open_existing_database_keeps_data_and_schema_version(
    registry: Registry, db_url: str
) -> None:
    mv = await registry.register_version("m", make_spec(), fake_artifact())

    key = await registry.prediction_id_key()
    async with await Registry.open(db_url) as again:
        assert await again.get_version("m", mv.version) == mv
        # Reopening keeps the key gateways sign prediction ids with.
        assert await again.prediction_id_key() == key

    rows = dict(await execute_sql(db_url, "SELECT key, value FROM meta"))
    assert rows["schema_version"] == str(SCHEMA_VERSION)
    assert len(key) == 32 and rows["prediction_id_key"] == key.hex()


async def test_open_plain_url_uses_async_driver(db_url: str) -> None:
    plain = db_url.replace("+aiosqlite", "").replace("+asyncpg", "")

    async with await Registry.open(plain) as reg:
        assert reg.dialect in ("sqlite", "postgresql")
        assert reg.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))
        assert await reg.list_models() == []


async def test_open_unsupported_url_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="expected sqlite or postgresql"):
        await Registry.open("mysql://localhost/db")


async def test_sqlite_synchronous_full_reaches_every_connection(tmp_path) -> None:
    registry = await Registry.open(f"sqlite:///{tmp_path / 'f.db'}", sqlite_synchronous="full")
    try:
        for engine in (registry._engines.writer, registry._engines.reader):
            async with engine.connect() as conn:
                assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2
    finally:
        await registry.close()


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engines = create_engines(url)
    try:
        for engine in (engines.writer, engines.reader):
            async with engine.connect() as conn:
                pragmas = {
                    p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
                    for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
                }
            assert pragmas == {
                "journal_mode": "wal",
                "busy_timeout": 5000,
                "foreign_keys": 1,
                "synchronous": 1,  # NORMAL
            }
    finally:
        await engines.dispose()
    with sqlite3.connect(tmp_path / "p.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
