"""`galgate predictions prune` on the registry database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from registry.store.registry import Registry
from tests.cli.conftest import error_line, galgate
from tests.helpers import make_outcome, make_prediction

NOW = datetime.now(UTC)


async def _seed(url: str) -> None:
    registry = await Registry.open(url)
    try:
        await registry.write_predictions(
            [make_prediction(f"old-{i}", at=NOW - timedelta(days=10)) for i in range(4)]
            + [make_prediction("new", at=NOW - timedelta(hours=1))]
        )
        await registry.record_outcomes([make_outcome("old-0", at=NOW - timedelta(days=10))])
    finally:
        await registry.close()


async def _left(url: str) -> set[str]:
    registry = await Registry.open(url)
    try:
        ids = ["old-0", "old-1", "old-2", "old-3", "new"]
        return set(await registry.get_predictions(ids))
    finally:
        await registry.close()


async def test_prune_deletes_older_rows_and_says_how_many(sqlite_url, capsys) -> None:
    await _seed(sqlite_url)
    result = await galgate(capsys, "predictions", "prune", "--older-than", "7d", "--db", sqlite_url)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("deleted 4 predictions and 1 outcomes older than 7d ")
    assert await _left(sqlite_url) == {"new"}

    again = await galgate(
        capsys, "predictions", "prune", "--older-than", "1d", "--batch-size", "2",
        "--json", "--db", sqlite_url,
    )  # fmt: skip
    assert again.code == 0
    assert json.loads(again.stdout) == {"predictions": 0, "outcomes": 0}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--older-than", "soon"], "expected a span such as 90m"),
        (["--older-than", "0d"], "expected a span such as 90m"),
        (["--older-than", "99999999999999w"], "is too long"),
        (["--older-than", "7d", "--batch-size", "0"], "--batch-size"),
        (["--older-than", "7d", "--server", "127.0.0.1:1"], "unrecognized arguments: --server"),
        ([], "--older-than"),
    ],
)
async def test_prune_bad_arguments_are_usage_errors(sqlite_url, capsys, args, expected) -> None:
    result = await galgate(capsys, "predictions", "prune", *args, "--db", sqlite_url)
    assert expected in error_line(result, code=2)


async def test_prune_batch_size_above_the_limit_is_one_line_error(sqlite_url, capsys) -> None:
    await _seed(sqlite_url)
    result = await galgate(
        capsys, "predictions", "prune", "--older-than", "7d", "--batch-size", "100001",
        "--db", sqlite_url,
    )  # fmt: skip
    assert "batch_size must be an integer from 1 to 100000" in error_line(result)
    assert len(await _left(sqlite_url)) == 5


async def test_prune_retention_longer_than_a_century_is_one_line_error(sqlite_url, capsys) -> None:
    await _seed(sqlite_url)
    result = await galgate(
        capsys, "predictions", "prune", "--older-than", "10000w", "--db", sqlite_url
    )
    assert "the retention must be positive and at most 36600 days" in error_line(result)
    assert len(await _left(sqlite_url)) == 5
