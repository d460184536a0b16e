"""Registry.write_prediction_rows: the log writers' row path, checked like the record path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry import InvalidArgumentError, Registry
from registry.entities import PREDICTION_COLUMNS
from registry.sql.predictions import record_row
from tests.helpers import make_prediction


def _row(pid: str, **overrides) -> tuple:
    row = dict(zip(PREDICTION_COLUMNS, record_row(make_prediction("p")), strict=True))
    row.update(prediction_id=pid, **overrides)
    return tuple(row[c] for c in PREDICTION_COLUMNS)


async def test_rows_round_trip_as_records_with_the_microsecond(registry: Registry) -> None:
    # .9999996 rounds up into the next second; .5 µs-ties round half-even, as datetime does.
    times = [1_700_000_000.123456, 1_700_000_000.9999996, 1_714_566_615.25, 86_400.0]
    rows = [_row(f"t-{i}", at=at, experiment_id=i + 1, arm="control") for i, at in enumerate(times)]

    assert await registry.write_prediction_rows(rows) == len(rows)
    assert await registry.write_prediction_rows(rows) == 0  # a retried batch writes nothing

    for i, at in enumerate(times):
        stored = await registry.get_prediction(f"t-{i}")
        assert stored.at == datetime.fromtimestamp(at, UTC)
        assert (stored.experiment_id, stored.arm, stored.inputs) == (i + 1, "control", rows[i][8])


async def test_record_and_row_paths_store_the_same(registry: Registry) -> None:
    record = make_prediction("same-1", experiment_id=3, arm="treatment", routing_key="k")
    await registry.write_prediction_rows([record_row(record)])

    assert await registry.get_prediction("same-1") == record


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["not", "a", "tuple"], "must be a tuple of the 12"),
        (("p",) * 11, "must be a tuple of the 12"),
        (_row("", at=1.0), "prediction_id must be a non-empty string"),
        (_row("x" * 65), "at most 64"),
        (_row("p", arm="a" * 17), "arm must be a string of at most 16"),
        (_row("p", experiment_id=0), "experiment_id must be None or an id"),
        (_row("p", experiment_id=True), "experiment_id must be None or an id"),
        (_row("p", at=-1.0), "at must be seconds since the epoch"),
        (_row("p", at=float("nan")), "at must be seconds since the epoch"),
        (_row("p", at=float(2**32)), "at must be seconds since the epoch"),
        (_row("p", at=1_700_000_000), "at must be seconds since the epoch"),
    ],
)
async def test_malformed_row_refused_and_nothing_of_the_batch_written(
    registry: Registry, bad, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        await registry.write_prediction_rows([_row("good-1"), bad])

    assert await registry.get_prediction("good-1") is None
