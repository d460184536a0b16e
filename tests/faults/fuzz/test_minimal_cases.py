"""The smallest hostile messages the fuzz tests found, kept as fast deterministic cases.

Each case is one failure the property tests shrank (or a member of its family), so a fix
can be checked in a second with ``-k <case id>``. The same checks apply as in the fuzz
tests (harness.status_problems, checks.*_problems, liveness afterwards).
"""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from gateway._pb.inference import grpc_predict_v2_pb2 as ipb
from tests.faults.fuzz import onnx_models
from tests.faults.fuzz.checks import (
    MAX_STREAM_ERROR,
    end_experiment,
    infer_problems,
    neighbour_ids,
    poison_and_check,
    response_problems,
)
from tests.faults.fuzz.harness import CALL_TIMEOUT, Harness
from tests.faults.fuzz.models import FEATURES, NORMAL_ROW
from tests.faults.fuzz.onnx_models import trigger_value
from tests.faults.fuzz.strategies import describe

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

Input = ipb.ModelInferRequest.InferInputTensor
Output = ipb.ModelInferRequest.InferRequestedOutputTensor
VALID_ONNX = onnx_models.linear_regressor(len(FEATURES))


def _infer(model: str = "clf", **tensor) -> ipb.ModelInferRequest:
    fields = {"name": "input", "datatype": "FP32", "shape": [1, 6], **tensor}
    return ipb.ModelInferRequest(model_name=model, inputs=[Input(**fields)])


def _contents(*values: float) -> ipb.InferTensorContents:
    return ipb.InferTensorContents(fp32_contents=values)


def _asking(model: str, label: float) -> ppb.PredictRequest:
    """One row that makes an echo classifier answer ``label``."""
    return _row(model, [trigger_value(label), 0.2, 0.2])


def _row(model: str, values: list[float]) -> ppb.PredictRequest:
    return ppb.PredictRequest(model=model, tensor=ppb.FloatTensor(rows=1, values=values))


def _many_output_parameters() -> ipb.ModelInferRequest:
    request = _infer(contents=ipb.InferTensorContents(fp32_contents=[0.0] * 6))
    output = request.outputs.add(name="label")
    for i in range(2_000):
        output.parameters[f"p{i:04d}"].bool_param = True
    return request


# Unary calls: (stub, method, request). Every one must end OK with a sane answer or with
# a proper status of at most 4 KiB.
UNARY = {
    # Status details echo the client's strings, unbounded.
    "predict-model-name-15kb": ("predict", "Predict", ppb.PredictRequest(model="m" * 15_000)),
    "predict-model-name-accented": ("predict", "Predict", ppb.PredictRequest(model="é" * 1_400)),
    "predict-400-unknown-features": (
        "predict",
        "Predict",
        ppb.PredictRequest(
            model="clf",
            features=ppb.Features(
                values={**NORMAL_ROW, **{f"unknown_{i:05d}": 0.0 for i in range(400)}}
            ),
        ),
    ),
    "predict-version-15kb": (
        "predict",
        "Predict",
        ppb.PredictRequest(model="clf", version="9" * 15_000),
    ),
    "record-outcome-id-15kb": (
        "predict",
        "RecordOutcome",
        ppb.RecordOutcomeRequest(prediction_id="0" * 15_000),
    ),
    "infer-model-name-15kb": ("infer", "ModelInfer", _infer(model="m" * 15_000)),
    "infer-input-name-15kb": ("infer", "ModelInfer", _infer(name="i" * 15_000)),
    "infer-datatype-15kb": ("infer", "ModelInfer", _infer(datatype="D" * 15_000)),
    "infer-shape-100k-dims": ("infer", "ModelInfer", _infer(shape=[1] * 100_000)),
    "infer-output-name-15kb": (
        "infer",
        "ModelInfer",
        ipb.ModelInferRequest(
            model_name="clf",
            inputs=[
                Input(
                    name="input",
                    datatype="FP32",
                    shape=[1, 6],
                    contents=ipb.InferTensorContents(fp32_contents=[0.0] * 6),
                )
            ],
            outputs=[Output(name="o" * 15_000)],
        ),
    ),
    "infer-2000-output-parameters": ("infer", "ModelInfer", _many_output_parameters()),
    "model-metadata-version-15kb": (
        "infer",
        "ModelMetadata",
        ipb.ModelMetadataRequest(name="clf", version="0" * 15_000),
    ),
    "get-model-name-15kb": ("admin", "GetModel", apb.GetModelRequest(name="m" * 15_000)),
    "rollback-name-astral": (
        "admin",
        "RollbackModel",
        apb.RollbackModelRequest(name="a\U000d209f" * 4_500),
    ),
    "list-experiments-state-15kb": (
        "admin",
        "ListExperiments",
        apb.ListExperimentsRequest(state="0" * 15_000),
    ),
    "create-experiment-model-15kb": (
        "admin",
        "CreateExperiment",
        apb.CreateExperimentRequest(
            model="m" * 15_000, control_version="1.0.0", treatment_version="1.0.1"
        ),
    ),
    # A (hostile) graph answers a label that is not one of its classes.
    "predict-label-past-the-classes": ("predict", "Predict", _asking("echo-idx", 3.0)),
    "predict-label-negative": ("predict", "Predict", _asking("echo-idx", -1.0)),
    "predict-int-label-unknown": ("predict", "Predict", _asking("echo-int", 5.0)),
    "infer-label-past-the-classes": (
        "infer",
        "ModelInfer",
        _infer("echo-idx", shape=[1, 3], contents=_contents(trigger_value(3.0), 0.0, 0.0)),
    ),
    "infer-string-label-negative": (
        "infer",
        "ModelInfer",
        _infer("echo-str", shape=[1, 3], contents=_contents(trigger_value(-1.0), 0.0, 0.0)),
    ),
    # Finite float32 inputs that a linear classifier turns into NaN probabilities.
    "predict-float32-max-features": (
        "predict",
        "Predict",
        ppb.PredictRequest(
            model="direction", features=ppb.Features(values=dict.fromkeys(FEATURES, 3.4e38))
        ),
    ),
}


@pytest.mark.parametrize("case", list(UNARY))
async def test_minimal_unary_case(harness, case):
    h = harness
    start = h.log.mark()
    stub, method, request = UNARY[case]
    response, _ = await h.unary(getattr(getattr(h, stub), method), request)
    problems = []
    if response is not None and method == "Predict":
        problems = response_problems(request, response)
    elif response is not None and method == "ModelInfer":
        problems = infer_problems(request, response)
    if problems:
        h.fail(f"{stub}.{method}", problems, start, f"request {describe(request)}")
    await h.assert_serving(since=start)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param("\x1f" * 1_000_000, id="control-chars-1m"),
        pytest.param("m" * 2_200_000, id="ascii-2.2m"),
        pytest.param("m" * 5_000, id="ascii-5k"),
    ],
)
async def test_minimal_predict_stream_error_for_long_model_name(harness, model):
    """A bad message gets an error answer of bounded size and the stream goes on."""
    h = harness
    start = h.log.mark()
    messages = [
        ppb.PredictRequest(model=model),
        ppb.PredictRequest(model="clf", features=ppb.Features(values=NORMAL_ROW)),
    ]
    try:
        call = h.predict.PredictStream(iter(messages), metadata=h.metadata, timeout=CALL_TIMEOUT)
        answers = [answer async for answer in call]
    except grpc.aio.AioRpcError as err:
        h.fail("PredictStream", [f"stream ended {err.code().name} {err.details()!r}"], start)
    sizes = [len(a.error.message.encode()) for a in answers]
    if len(answers) != 2 or sizes[0] > MAX_STREAM_ERROR or answers[1].error.code:
        h.fail("PredictStream", [f"answers {len(answers)}, error message bytes {sizes}"], start)
    await h.assert_serving(since=start)


METADATA = {
    "deep-json-array": "[" * 5_000 + "]" * 5_000,
    "deep-hyperparameters": '{"hyperparameters": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}",
    "training-samples-1e999": '{"training_samples": 1e999}',
    "training-samples-10e30": '{"training_samples": 1000000000000000000000000000000}',
    "trained-at-year-9999-behind-utc": '{"trained_at": "9999-12-31T23:59:59-14:00"}',
    "training-start-year-1-ahead-of-utc": '{"training_start": "0001-01-01T00:00:00+14:00"}',
    "metric-not-a-number": '{"metrics": {"accuracy": "high"}}',
}


@pytest.mark.parametrize("case", list(METADATA))
async def test_minimal_register_metadata_case(harness, case):
    """RegisterModel with one hostile metadata_json (everything else valid): refused with
    a proper status, or registered and readable."""
    h = harness
    start = h.log.mark()
    name = f"meta-{case}"
    messages = [
        apb.RegisterModelRequest(
            header=apb.RegisterModelHeader(name=name, metadata_json=METADATA[case])
        ),
        apb.RegisterModelRequest(artifact_chunk=VALID_ONNX),
    ]
    try:
        await h.admin.RegisterModel(iter(messages), metadata=h.metadata, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as err:
        h.check_error("RegisterModel", err, request_size=messages[0].ByteSize(), mark=start)
    else:
        await h.unary(h.admin.GetModel, apb.GetModelRequest(name=name), expected=())
    await h.assert_serving(since=start)


@pytest.mark.parametrize(
    "end_time",
    [
        pytest.param(Timestamp(seconds=-62135596801), id="before-year-1"),
        pytest.param(Timestamp(seconds=253402300800), id="after-year-9999"),
        pytest.param(Timestamp(seconds=int(time.time()) + 3600, nanos=1_000_000_000), id="nanos"),
    ],
)
async def test_minimal_create_experiment_end_time_out_of_range(harness, end_time):
    h = harness
    start = h.log.mark()
    victim = await h.victim()
    request = apb.CreateExperimentRequest(
        model=victim, control_version="1.0.0", treatment_version="1.0.1", metric="reward"
    )
    request.end_time.CopyFrom(end_time)
    info, _ = await h.unary(h.admin.CreateExperiment, request)
    if info is not None:
        await end_experiment(h, info.id)
    await h.assert_serving(since=start)


@pytest.mark.parametrize(
    "metric,strategy,values",
    [
        ("squared_error", "random", [1e200, 1e200]),
        ("absolute_error", "random", [1e308, -1e308]),
        ("reward", "random", [1e300, 1e300]),
        ("reward", "thompson_sampling", [1e300, -1e300, 1e300, -1e300]),
    ],
)
async def test_minimal_outcome_values_case(harness, metric, strategy, values):
    h = harness
    start = h.log.mark()
    victim = await h.victim()
    info, _ = await h.unary(
        h.admin.CreateExperiment,
        apb.CreateExperimentRequest(
            model=victim,
            control_version="1.0.0",
            treatment_version="1.0.1",
            strategy=strategy,
            metric=metric,
            min_samples=1,
        ),
        expected=(),
    )
    try:
        await poison_and_check(h, victim, info.id, values, batch=False)
    finally:
        await end_experiment(h, info.id)
    await h.assert_serving(since=start)


WIRE = {
    "predict-undecodable": ("/galgate.v1.PredictionService/Predict", False, False),
    "predict-stream-undecodable": ("/galgate.v1.PredictionService/PredictStream", True, True),
    "register-model-undecodable": ("/galgate.v1.ModelAdmin/RegisterModel", True, False),
    "server-live-undecodable": ("/inference.GRPCInferenceService/ServerLive", False, False),
}


@pytest.mark.parametrize("case", list(WIRE))
async def test_minimal_undecodable_request_bytes(harness, case):
    """The one byte b"\\x00" (field number 0: not a protobuf message) as the request."""
    h = harness
    start = h.log.mark()
    path, client_streaming, server_streaming = WIRE[case]
    kind = {
        (False, False): h.channel.unary_unary,
        (True, True): h.channel.stream_stream,
        (True, False): h.channel.stream_unary,
    }[(client_streaming, server_streaming)]
    payload = b"\x00"
    call = kind(path)(
        iter([payload]) if client_streaming else payload, metadata=h.metadata, timeout=10
    )
    try:
        if server_streaming:
            [_ async for _ in call]
        else:
            await call
    except grpc.aio.AioRpcError as err:
        h.check_error(path, err, request_size=1, mark=start)
    await h.assert_serving(since=start)


async def test_minimal_record_outcome_for_the_next_prediction_id(harness: Harness):
    """Prediction ids are unguessable: the id after one's own names someone else's."""
    h = harness
    request = ppb.PredictRequest(model="clf", features=ppb.Features(values=NORMAL_ROW))
    mine = (await h.predict.Predict(request)).prediction_id
    theirs = (await h.predict.Predict(request)).prediction_id
    for guess in neighbour_ids(mine, 1):
        mark = h.log.mark()
        _, err = await h.unary(
            h.predict.RecordOutcome, ppb.RecordOutcomeRequest(prediction_id=guess, value=1.0)
        )
        if err is None:
            h.fail("RecordOutcome", [f"scored {guess!r} (ids {mine!r}, {theirs!r})"], mark)
