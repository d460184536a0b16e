"""The prediction log and outcomes: batch writes, exactly-once outcomes, arm aggregates."""

from __future__ import annotations

import numpy as np
import pytest

from registry import (
    ExperimentNotFoundError,
    ExperimentState,
    InvalidArgumentError,
    OutcomeConflictError,
    Registry,
)
from tests.helpers import experiment_in_state, make_outcome, make_prediction, race


async def test_write_predictions_batch_then_retry_is_idempotent(registry: Registry) -> None:
    batch = [make_prediction(f"p-{i}", latency_us=i, predicted=i / 7) for i in range(1200)]

    assert await registry.write_predictions(batch) == 1200
    assert await registry.write_predictions(batch) == 0
    overlapping = [*batch[-100:], *(make_prediction(f"q-{i}") for i in range(50))]
    assert await registry.write_predictions(overlapping) == 50

    assert await registry.get_prediction("p-1199") == batch[1199]
    assert await registry.get_prediction("q-49") == overlapping[-1]


async def test_write_predictions_round_trips_every_field(registry: Registry) -> None:
    inputs = np.arange(6, dtype="<f4").tobytes()
    outputs = np.array([0.25, 0.75, 0.5, 0.5], dtype="<f4").tobytes()
    record = make_prediction(
        "abc-1",
        model="btc",
        version="2.1.0",
        arm="treatment",
        experiment_id=7,
        routing_key="acct-9",
        rows=2,
        inputs=inputs,
        outputs=outputs,
        predicted=1.0,
        latency_us=812,
    )

    assert await registry.write_predictions([record]) == 1

    stored = await registry.get_prediction("abc-1")
    assert stored == record
    assert np.array_equal(np.frombuffer(stored.outputs, dtype="<f4"), [0.25, 0.75, 0.5, 0.5])
    assert await registry.get_prediction("missing") is None


async def test_write_predictions_duplicate_ids_in_one_batch_are_written_once(
    registry: Registry,
) -> None:
    first = make_prediction("dup", latency_us=1)

    written = await registry.write_predictions([first, make_prediction("dup", latency_us=2)])

    assert written == 1
    assert (await registry.get_prediction("dup")).latency_us == 1
    assert await registry.write_predictions([]) == 0


async def test_write_predictions_bad_record_writes_nothing_of_the_batch(
    registry: Registry,
) -> None:
    batch = [make_prediction("ok-1"), make_prediction("x" * 65)]

    with pytest.raises(InvalidArgumentError, match="prediction_id"):
        await registry.write_predictions(batch)

    assert await registry.get_prediction("ok-1") is None


async def test_write_predictions_batches_after_a_refused_one_write_exactly_their_rows(
    registry: Registry,
) -> None:
    """On PostgreSQL a batch is copied into a per-connection staging table first: a batch
    the database refuses mid-copy leaves nothing behind for the next one."""
    if not registry.url.startswith("postgresql"):
        pytest.skip("the staging table exists on PostgreSQL only")
    refused = [make_prediction("r-1"), make_prediction("r-2", model="m" * 200)]
    # Refused, not retried: a value the database cannot store is the caller's error.
    with pytest.raises(InvalidArgumentError, match=r"a value cannot be stored .*too long"):
        await registry.write_predictions(refused)

    pair = [make_prediction("a"), make_prediction("b")]
    # The pool hands the same connections out again: each batch sees only its own rows.
    assert [await registry.write_predictions(pair) for _ in range(3)] == [2, 0, 0]
    assert await registry.write_predictions([make_prediction("b"), make_prediction("c")]) == 1
    assert await registry.get_prediction("r-1") is None
    assert {p for p in ("a", "b", "c") if await registry.get_prediction(p)} == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (make_prediction("p", arm="x" * 17), "PredictionRecord.arm must be a string of at most"),
        (make_prediction(7), "PredictionRecord.prediction_id must be"),
        (make_outcome("p"), "expected a PredictionRecord, got OutcomeRecord"),
        (make_prediction("p", experiment_id=2**63), "experiment_id must be None or an id"),
        (make_prediction("p", experiment_id="7"), "experiment_id must be None or an id"),
    ],
    ids=["long-arm", "int-id", "wrong-type", "huge-experiment-id", "text-experiment-id"],
)
async def test_write_predictions_malformed_record_raises_invalid_argument(
    registry: Registry, record: object, expected: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=expected):
        await registry.write_predictions([make_prediction("ok"), record])  # type: ignore[list-item]

    assert await registry.get_prediction("ok") is None


async def test_record_outcomes_first_write_then_same_value_is_duplicate(
    registry: Registry,
) -> None:
    outcome = make_outcome("p-1", 2.5, metric_value=0.25, experiment_id=3, arm="control")

    assert await registry.record_outcomes([outcome]) == [False]
    assert await registry.record_outcomes([outcome]) == [True]
    # The value decides: a resend with other metadata is still the same outcome.
    assert await registry.record_outcomes([make_outcome("p-1", 2.5)]) == [True]

    assert await registry.get_outcome("p-1") == outcome
    assert await registry.get_outcome("p-2") is None


async def test_record_outcomes_is_durable_once_it_returns(registry: Registry, db_url: str) -> None:
    await registry.record_outcomes([make_outcome("p-1", 4.0)])

    async with await Registry.open(db_url) as other:
        assert (await other.get_outcome("p-1")).value == 4.0


async def test_record_outcomes_conflicting_value_raises_and_writes_nothing_of_batch(
    registry: Registry,
) -> None:
    await registry.record_outcomes([make_outcome("p-1", 1.0)])
    batch = [make_outcome("p-0", 5.0), make_outcome("p-1", 2.0), make_outcome("p-2", 3.0)]

    with pytest.raises(OutcomeConflictError) as err:
        await registry.record_outcomes(batch)

    assert (err.value.prediction_id, err.value.stored, err.value.new) == ("p-1", 1.0, 2.0)
    message = str(err.value)
    assert "'p-1'" in message and "1.0" in message and "2.0" in message
    assert await registry.get_outcome("p-0") is None
    assert await registry.get_outcome("p-2") is None
    assert (await registry.get_outcome("p-1")).value == 1.0


async def test_record_outcomes_conflict_within_one_batch_writes_nothing(
    registry: Registry,
) -> None:
    batch = [make_outcome("p-0", 1.0), make_outcome("p-1", 1.0), make_outcome("p-1", -1.0)]

    with pytest.raises(OutcomeConflictError, match="'p-1'"):
        await registry.record_outcomes(batch)

    assert await registry.get_outcome("p-0") is None
    assert await registry.get_outcome("p-1") is None
    repeat = [make_outcome("p-1", 1.0), make_outcome("p-1", 1.0), make_outcome("p-0", 0.0)]
    assert await registry.record_outcomes(repeat) == [False, True, False]


async def test_record_outcomes_before_its_prediction_is_stored(registry: Registry) -> None:
    assert await registry.record_outcomes([make_outcome("early", 0.5)]) == [False]
    assert await registry.get_prediction("early") is None

    assert await registry.write_predictions([make_prediction("early")]) == 1

    assert (await registry.get_outcome("early")).value == 0.5
    assert (await registry.get_prediction("early")).prediction_id == "early"


@pytest.mark.parametrize(
    ("outcome", "field"),
    [
        (make_outcome("p", float("nan")), "value"),
        (make_outcome("p", 1.0, metric_value=float("inf")), "metric_value"),
        (make_outcome(""), "prediction_id"),
        (make_outcome("p", True), "value"),
        (make_outcome("p", arm="a" * 17), "OutcomeRecord.arm"),
        (make_prediction("p"), "expected an OutcomeRecord, got PredictionRecord"),
    ],
    ids=["nan-value", "inf-metric", "empty-id", "bool-value", "long-arm", "wrong-type"],
)
async def test_record_outcomes_malformed_outcome_raises_invalid_argument(
    registry: Registry, outcome: object, field: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        await registry.record_outcomes([make_outcome("good", 1.0), outcome])  # type: ignore[list-item]

    assert await registry.get_outcome("good") is None


async def test_concurrent_record_outcomes_store_each_outcome_once(
    registry: Registry, db_url: str
) -> None:
    same = await race(db_url, 2, lambda reg, i: reg.record_outcomes([make_outcome("same", 1.0)]))
    different = await race(
        db_url, 2, lambda reg, i: reg.record_outcomes([make_outcome("diff", float(i))])
    )

    assert sorted(same) == [[False], [True]], same
    assert sum(isinstance(r, OutcomeConflictError) for r in different) == 1, different
    [won] = [r for r in different if isinstance(r, list)]
    assert won == [False]
    assert (await registry.get_outcome("diff")).value in (0.0, 1.0)


def _central(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean and central sums of k = 2..4, computed on the offset-free values."""
    mean = float(x.mean())
    d = x - mean
    return mean, float((d**2).sum()), float((d**3).sum()), float((d**4).sum())


@pytest.mark.parametrize("offset", [0.0, 1e9])
async def test_arm_aggregates_are_exact_central_moments_on_random_data(
    registry: Registry, offset: float
) -> None:
    """Prices or PnL in account units: raw Σx² loses the variance at an offset of 1e7;
    the registry's moments stay exact to rounding at 1e9."""
    exp = await experiment_in_state(registry, ExperimentState.RUNNING)
    other = await experiment_in_state(registry, ExperimentState.RUNNING, "other")
    rng = np.random.default_rng(20240501)
    n = 600
    arms = rng.choice(["control", "treatment"], size=n, p=[0.4, 0.6])
    # Multiples of 1/64 near the offset are exact in float64, so the true moments are
    # those of the small values.
    small = np.round(rng.normal(1.5, 2.0, size=n) * 64) / 64
    metric = small + offset
    answered = rng.random(n) < 0.7  # outcomes arrive for some predictions only
    has_metric = rng.random(n) < 0.9  # and some carry no metric value
    predictions = [
        make_prediction(f"e-{i}", arm=str(arms[i]), experiment_id=exp.id) for i in range(n)
    ]
    # Noise that must not be counted: another experiment and plain production traffic.
    predictions += [
        make_prediction(f"o-{i}", arm="control", experiment_id=other.id) for i in range(40)
    ]
    predictions += [make_prediction(f"x-{i}") for i in range(40)]
    outcomes = [
        make_outcome(
            f"e-{i}",
            float(metric[i]),
            metric_value=float(metric[i]) if has_metric[i] else None,
            experiment_id=exp.id,
            arm=str(arms[i]),
        )
        for i in range(n)
        if answered[i]
    ]
    outcomes += [
        make_outcome(f"o-{i}", 9.0, metric_value=9.0, experiment_id=other.id, arm="control")
        for i in range(40)
    ]
    await registry.write_predictions(predictions)
    await registry.record_outcomes(outcomes)

    aggregates = await registry.arm_aggregates(exp.id)

    assert set(aggregates) == {"control", "treatment"}
    for arm, agg in aggregates.items():
        in_arm = arms == arm
        counted = in_arm & answered & has_metric
        assert agg.arm == arm
        assert agg.predictions == int(in_arm.sum())
        assert agg.outcomes == int(counted.sum())
        mean, m2, m3, m4 = _central(small[counted])
        assert agg.mean == pytest.approx(offset + mean, rel=1e-15, abs=1e-12)
        assert agg.m2 == pytest.approx(m2, rel=1e-9)
        assert agg.m3 == pytest.approx(m3, rel=1e-6, abs=1e-6 * m2**1.5)
        assert agg.m4 == pytest.approx(m4, rel=1e-9)


async def test_arm_aggregates_without_data_are_zero(registry: Registry) -> None:
    exp = await experiment_in_state(registry, ExperimentState.CREATED)

    aggregates = await registry.arm_aggregates(exp.id)

    for arm in ("control", "treatment"):
        agg = aggregates[arm]
        assert (agg.arm, agg.predictions, agg.outcomes, agg.mean, agg.m2) == (arm, 0, 0, 0.0, 0.0)
    with pytest.raises(ExperimentNotFoundError):
        await registry.arm_aggregates(exp.id + 100)


async def test_get_predictions_returns_stored_ones_by_id(registry: Registry) -> None:
    await registry.write_predictions([make_prediction(f"g{i}") for i in range(5)])
    found = await registry.get_predictions(["g1", "g3", "missing", "g1"])
    assert sorted(found) == ["g1", "g3"]
    assert found["g3"] == await registry.get_prediction("g3")
    assert await registry.get_predictions([]) == {}
