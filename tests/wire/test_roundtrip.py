"""Every domain object survives encode -> decode through the wire codecs unchanged, so the
CLI through a gateway shows exactly what the CLI on the database shows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from gateway._pb.galgate.v1 import admin_pb2 as pb
from gateway.experiments.failures import ExperimentFailure
from gateway.experiments.results import ArmResult, Results
from gateway.serving.pool import LoadFailure
from gateway.wire import experiments, models, status
from gateway.wire.uploads import metadata_json, spec_from_header
from registry.entities import (
    Event,
    Experiment,
    ExperimentSpec,
    ExperimentState,
    Model,
    ModelVersion,
    Stage,
    StageTransition,
    VersionSpec,
)

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

SPEC = VersionSpec(
    model_type="sklearn.ensemble.GradientBoostingClassifier",
    features=("ret_1m", "spread_bps"),
    signature={"features": ["ret_1m", "spread_bps"], "task": "classification",
               "class_labels": [0, 1, 2], "input_name": "input"},
    target="direction",
    training_start=AT - timedelta(days=30),
    training_end=AT - timedelta(days=1),
    training_samples=12_345,
    training_duration_seconds=42.5,
    trained_at=AT,
    trained_by="quant-desk",
    hyperparameters={"n_estimators": 100, "nested": {"depth": [3, 4]}},
    preprocessing={"scaler": "standard"},
    feature_importance={"ret_1m": 0.7, "spread_bps": 0.3},
    metrics={"accuracy": 0.61},
    validation_metrics={"accuracy": 0.6},
    test_metrics={"accuracy": 0.59},
    tags={"pair": "BTC-USD"},
    description="weekly retrain",
)  # fmt: skip


def _version(version: str = "1.2.3", stage: Stage = Stage.STAGING) -> ModelVersion:
    return ModelVersion(
        id=17,
        name="alpha",
        version=version,
        stage=stage,
        spec=SPEC,
        sha256="ab" * 32,
        size=4096,
        has_profile=True,
        created_at=AT,
        updated_at=AT + timedelta(minutes=1),
    )


def test_version_and_model_round_trip() -> None:
    version = _version()
    assert models.version_from_info(models.version_info(version)) == version
    model = Model("alpha", AT, (_version("1.0.0", Stage.PRODUCTION), version))
    assert models.model_from_info(models.model_info(model)) == model


def test_audit_row_and_event_round_trip() -> None:
    registered = (None, Stage.DEVELOPMENT, "ci", "", "register")
    promoted = (Stage.STAGING, Stage.PRODUCTION, "ops", "go", "transition")
    for i, moves in enumerate((registered, promoted)):
        transition = StageTransition(i, "alpha", "1.0.0", *moves, AT)
        assert models.transition_from_info(models.transition_info(transition)) == transition
    event = Event(9, "stage_changed", "alpha", "1.0.0", {"from": "staging", "to": "production"}, AT)
    assert models.event_from_info(models.event_info(event)) == event


def _experiment(**overrides) -> Experiment:
    spec = ExperimentSpec(
        model="alpha",
        control_version="1.0.0",
        treatment_version="1.0.1",
        strategy="weighted",
        metric="squared_error",
        split=0.25,
        epsilon=0.2,
        confidence=0.9,
        min_detectable_effect=0.05,
        min_samples=50,
        max_loss=0.2,
        end_time=AT + timedelta(days=2),
        auto_promote=True,
        name="gbm-v2",
        description="new features",
    )
    values = dict(
        id=5,
        spec=spec,
        state=ExperimentState.COMPLETED,
        control_sha256="aa" * 32,
        treatment_sha256="bb" * 32,
        created_at=AT,
        started_at=AT,
        ended_at=AT + timedelta(hours=3),
        end_reason="sequential test decisive",
        winner="treatment",
        tau2=0.0123,
        final_results={"winner": "treatment", "looks": 12, "cs_low": None},
    )
    values.update(overrides)
    return Experiment(**values)


@pytest.mark.parametrize(
    "experiment",
    [_experiment(), _experiment(tau2=None, final_results={}, ended_at=None, winner="")],
)
def test_experiment_round_trip(experiment: Experiment) -> None:
    assert experiments.experiment_from_info(experiments.experiment_info(experiment)) == experiment


def test_experiment_spec_round_trips_through_create_request() -> None:
    spec = _experiment().spec
    assert experiments.experiment_spec(experiments.experiment_request(spec, start=True)) == spec


def test_results_round_trip() -> None:
    results = Results(
        control=ArmResult("control", "1.0.0", 120, 100, 0.5, 0.1),
        treatment=ArmResult("treatment", "1.0.1", 130, 110, 0.4, 0.12),
        difference=-0.1,
        ci_low=-0.15,
        ci_high=-0.05,
        p_value=0.001,
        sequential_p_value=0.02,
        sequential_decisive=True,
        effect_size=-0.9,
        required_samples_per_arm=833,
        winner="treatment",
        recommendation="promote 1.0.1",
        cs_low=-math.inf,
        cs_high=0.3,
        looks=12,
        loss_exceeded=False,
    )
    experiment = _experiment()
    message = experiments.experiment_results(experiment, results)
    assert experiments.results_from_message(message) == (experiment, results)


def test_status_round_trip() -> None:
    original = status.GatewayStatus(
        serving=True,
        event_id=99,
        loaded=(status.LoadedVersion("alpha", "1.0.0", "aa" * 32, "production"),),
        failures=(LoadFailure("alpha", "1.0.1", "bb" * 32, "ArtifactLoadError: bad", AT),),
        prediction_log_queued=3,
        prediction_log_dropped=1,
        skipped_experiments=(ExperimentFailure(5, "alpha", "monitor", "no valid statistics", AT),),
        address="127.0.0.1:50051",
    )
    decoded = status.status_from_message(status.status_message(original), original.address)
    assert decoded == original


def test_upload_metadata_round_trips_into_the_registered_spec() -> None:
    header = pb.RegisterModelHeader(
        name="alpha",
        model_type=SPEC.model_type,
        features=list(SPEC.features),
        target=SPEC.target,
        metadata_json=metadata_json(SPEC),
        tags=dict(SPEC.tags),
        description=SPEC.description,
    )
    # The signature is read from the artifact when the upload is vetted.
    assert spec_from_header(header) == SPEC.__class__(**{**_fields(SPEC), "signature": {}})


def _fields(spec: VersionSpec) -> dict:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}
