"""Registry.training_data: single-row predictions joined with outcomes, windowed, newest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from registry import InvalidArgumentError
from registry.store.log import MAX_TRAINING_ROWS
from tests.helpers import make_outcome, make_prediction

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _inputs(i: int) -> bytes:
    return np.asarray([i, i + 0.5, -i], dtype="<f4").tobytes()


async def _log(registry, n: int = 10) -> None:
    """n single-row predictions of "m" a minute apart (outcomes for even i only), plus a
    multi-row prediction and another model's prediction, both with outcomes."""
    predictions = [
        make_prediction(f"p{i}", at=T0 + timedelta(minutes=i), inputs=_inputs(i), version="1.0.0")
        for i in range(n)
    ]
    predictions.append(make_prediction("multi", at=T0, rows=2, inputs=_inputs(0) * 2))
    predictions.append(make_prediction("other", at=T0, model="other"))
    # Written newest first: the result's order must come from ``at``, not insertion.
    await registry.write_predictions(predictions[::-1])
    outcomes = [make_outcome(f"p{i}", float(i)) for i in range(0, n, 2)]
    await registry.record_outcomes([*outcomes, make_outcome("multi"), make_outcome("other")])


async def test_training_data_joins_single_row_predictions_with_outcomes_oldest_first(registry):
    await _log(registry)
    data = await registry.training_data("m")
    assert len(data) == 5
    assert data.values == (0.0, 2.0, 4.0, 6.0, 8.0)
    assert data.inputs == tuple(_inputs(i) for i in range(0, 10, 2))
    assert data.at == tuple(T0 + timedelta(minutes=i) for i in range(0, 10, 2))
    assert all(t.tzinfo is not None for t in data.at)
    assert data.versions == ("1.0.0",) * 5
    assert not data.truncated


async def test_training_data_window_is_since_inclusive_until_exclusive(registry):
    await _log(registry)
    data = await registry.training_data(
        "m", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=6)
    )
    assert data.values == (2.0, 4.0)
    naive_utc = (T0 + timedelta(minutes=6)).replace(tzinfo=None)
    naive = await registry.training_data("m", since=naive_utc)
    assert naive.values == (6.0, 8.0)


async def test_training_data_limit_keeps_the_newest_rows(registry):
    await _log(registry)
    data = await registry.training_data("m", limit=2)
    assert data.values == (6.0, 8.0)
    assert data.truncated
    assert not (await registry.training_data("m", limit=5)).truncated


async def test_training_data_unknown_model_is_empty(registry):
    await _log(registry)
    data = await registry.training_data("nope")
    assert len(data) == 0 and data.inputs == ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": MAX_TRAINING_ROWS + 1},
        {"limit": 1.5},
        {"limit": True},
        {"since": "yesterday"},
        {"since": T0 + timedelta(hours=1), "until": T0},
    ],
)
async def test_training_data_bad_arguments_are_invalid(registry, kwargs):
    with pytest.raises(InvalidArgumentError):
        await registry.training_data("m", **kwargs)
