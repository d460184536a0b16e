"""retrain(): a real registry, a real production version, a real log, trainers in processes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from gateway.errors import (
    InvalidInputError,
    RetrainingCancelledError,
    RetrainingDataError,
    RetrainingError,
    TrainerError,
)
from gateway.retraining.engine import LINEAGE_TAGS, retrain
from gateway.retraining.request import data_hash
from registry.entities import RetrainingState, Stage
from tests.retraining.conftest import MODEL, Setup

TRAINERS = "tests.retraining.trainers"
FAST = {"reason": "accuracy fell", "trigger": "drift", "min_rows": 100, "timeout": 60.0}


async def _versions(setup: Setup) -> list[str]:
    return [v.version for v in (await setup.registry.get_model(MODEL)).versions]


async def test_retrain_good_trainer_registers_candidate_in_staging_with_lineage(setup):
    outcome = await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:good_with_result", **FAST)
    assert outcome.state is RetrainingState.SUCCEEDED and outcome.new_version == "1.0.1"
    validation = outcome.validation
    assert validation.passed and validation.metric == "accuracy"
    assert validation.candidate > 0.9 and validation.production < 0.85
    assert (outcome.rows, outcome.holdout_rows, outcome.skipped_rows) == (480, 120, 5)
    assert validation.rows == 120
    assert outcome.trainer_metrics == {"rows": 480.0} and "wrapped" in outcome.notes
    assert outcome.window_start < outcome.window_end
    assert 0 < outcome.training_seconds < outcome.total_seconds

    version = await setup.registry.get_version(MODEL, outcome.new_version)
    assert version.stage is Stage.STAGING
    tags = version.spec.tags
    assert set(LINEAGE_TAGS) <= set(tags)
    assert tags["pair"] == "BTC-USD"  # inherited from the parent
    assert tags["parent_version"] == "1.0.0"
    assert tags["retraining_reason"] == "accuracy fell"
    assert tags["retraining_trigger"] == "drift"
    assert tags["trainer"] == f"{TRAINERS}:good_with_result"
    assert tags["data_hash"] == outcome.data_hash and len(outcome.data_hash) == 64
    assert tags["training_window_start"] == outcome.window_start.isoformat()
    assert tags["training_window_end"] == outcome.window_end.isoformat()
    assert tags["holdout_rows"] == "120"
    assert float(tags["candidate_metric"]) == pytest.approx(validation.candidate, rel=1e-5)
    assert float(tags["production_metric"]) == pytest.approx(validation.production, rel=1e-5)
    assert version.spec.validation_metrics == {"accuracy": validation.candidate}
    assert version.spec.training_start == outcome.window_start
    assert version.spec.training_end == outcome.window_end
    assert version.spec.training_samples == 480
    assert version.spec.features == ("f0", "f1", "f2")
    assert version.has_profile

    production = await setup.registry.production_version(MODEL)
    assert production is not None and production.version == "1.0.0"
    moves = [(t.version, t.to_stage) for t in await setup.registry.history(MODEL)]
    assert ("1.0.1", Stage.PRODUCTION) not in moves
    assert await setup.registry.list_experiments(model=MODEL) == []


async def test_retrain_shuffled_labels_is_rejected_and_registers_nothing(setup):
    outcome = await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:shuffled", **FAST)
    assert outcome.state is RetrainingState.REJECTED and outcome.new_version == ""
    assert not outcome.validation.passed
    assert outcome.validation.candidate < outcome.validation.production
    assert await _versions(setup) == ["1.0.0"]


async def test_retrain_trainer_raises_is_trainer_error_with_traceback(setup):
    with pytest.raises(TrainerError) as err:
        await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:raises", **FAST)
    assert "the feature store is down" in str(err.value)
    assert "Traceback" in err.value.remote_traceback
    assert "trainers.py" in err.value.remote_traceback
    assert await _versions(setup) == ["1.0.0"]


async def test_retrain_too_few_rows_is_data_error_before_any_training(setup):
    with pytest.raises(RetrainingDataError) as err:
        await retrain(
            setup.operations, MODEL, trainer=f"{TRAINERS}:good", **{**FAST, "min_rows": 601}
        )
    assert (err.value.rows, err.value.needed, err.value.skipped) == (600, 601, 5)
    with pytest.raises(RetrainingDataError):  # the log's rows are from June 2024
        await retrain(
            setup.operations, MODEL, trainer=f"{TRAINERS}:good", window=timedelta(days=1), **FAST
        )


async def test_retrain_without_production_is_refused(setup):
    await setup.registry.archive(MODEL, "1.0.0", actor="test", force=True)
    with pytest.raises(RetrainingError, match="no production version"):
        await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:good", **FAST)


async def test_retrain_cancel_set_before_training_registers_nothing(setup):
    import asyncio

    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(RetrainingCancelledError):
        await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:good", cancel=cancel, **FAST)
    assert await _versions(setup) == ["1.0.0"]


@pytest.mark.parametrize(
    "bad",
    [
        {"holdout": 0.0},
        {"holdout": 0.9},
        {"margin": -0.1},
        {"min_rows": 1},
        {"timeout": 0},
        {"window": timedelta(0)},
        {"trigger": ""},
        {"max_rows": 0},
    ],
)
async def test_retrain_bad_arguments_are_invalid_input(setup, bad):
    with pytest.raises(InvalidInputError):
        await retrain(setup.operations, MODEL, trainer=f"{TRAINERS}:good", **{**FAST, **bad})


def test_data_hash_covers_features_and_outcomes():
    X, y = np.zeros((3, 2), dtype=np.float32), np.zeros(3)
    assert data_hash(X, y) != data_hash(X, y + 1) != data_hash(X + 1, y)
