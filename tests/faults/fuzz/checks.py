"""What a successful answer must look like, whatever a hostile client sent, and helpers
that call an RPC and check its status or its answer."""

from __future__ import annotations

import math

import numpy as np

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from gateway._pb.inference import grpc_predict_v2_pb2 as ipb
from registry.entities import ExperimentState
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.harness import MAX_DETAILS, Harness
from tests.faults.fuzz.models import NORMAL_ROW

# A PredictStream error message is the stream's stand-in for a status: the same bound.
MAX_STREAM_ERROR = MAX_DETAILS

CLASSIFIERS = {"clf": 3, "direction": 3, "xgb": 2}
REGRESSORS = ("reg", "lgbm")
ECHO = ("echo-idx", "echo-int", "echo-str")
MODELS = (*CLASSIFIERS, *REGRESSORS)


def response_problems(request: ppb.PredictRequest, response: ppb.PredictResponse) -> list[str]:
    """What is wrong with a successful answer (empty: nothing)."""
    problems = []
    if not response.prediction_id:
        problems.append("no prediction_id")
    if response.model != request.model:
        problems.append(f"answered for model {response.model!r}")
    if response.request_id != request.request_id:
        problems.append("request_id not echoed")
    rows = response.rows
    if response.class_labels:
        n = len(response.class_labels)
        outside = [label for label in response.labels if not 0 <= label < n]
        if len(response.labels) != rows or outside:
            problems.append(f"labels {list(response.labels)[:8]} are not indices into {n} classes")
        if len(response.probabilities) != rows * n:
            problems.append(f"{len(response.probabilities)} probabilities for {rows} x {n}")
        if response.model in CLASSIFIERS:
            bad = [p for p in response.probabilities if not (-1e-6 <= p <= 1 + 1e-6)]
            if bad:
                problems.append(f"probabilities outside [0, 1]: {bad[:6]}")
    else:
        if len(response.values) != rows:
            problems.append(f"{len(response.values)} values for {rows} rows")
        if not all(math.isfinite(v) for v in response.values):
            problems.append(f"non-finite values {[v for v in response.values][:6]}")
    return problems


async def predict(h: Harness, request: ppb.PredictRequest) -> ppb.PredictResponse | None:
    """Predict, check the status or the answer, and return the answer (None on error)."""
    mark = h.log.mark()
    response, _ = await h.unary(h.predict.Predict, request)
    if response is not None:
        problems = response_problems(request, response)
        if problems:
            h.fail("Predict", problems, mark, f"request {s.describe(request)}")
    return response


# name -> (input width, output names, number of classes or 0 for a regressor)
INFER_MODELS = {
    "clf": (6, ("label", "probabilities"), 3),
    "direction": (6, ("label", "probabilities"), 3),
    "xgb": (6, ("label", "probabilities"), 2),
    "reg": (6, ("variable",), 0),
    "lgbm": (6, ("variable",), 0),
    "echo-idx": (3, ("label", "probabilities"), 3),
    "echo-int": (3, ("label", "probabilities"), 3),
    "echo-str": (3, ("label", "probabilities"), 3),
}
# Class labels as the label output returns them (ModelInfer returns labels, not indices).
LABELS = {
    "clf": {0, 1, 2},
    "direction": {-1, 0, 1},
    "xgb": {0, 1},
    "echo-idx": {0, 1, 2},
    "echo-int": {-1, 0, 1},
    "echo-str": {0, 1, 2},  # string classes: the label output is the class index
}
_DTYPES = {"INT64": "<i8", "FP32": "<f4"}


def infer_problems(request: ipb.ModelInferRequest, response: ipb.ModelInferResponse) -> list[str]:
    """What is wrong with a successful ModelInfer answer (empty: nothing)."""
    problems = []
    if response.model_name != request.model_name:
        problems.append(f"answered for model {response.model_name!r}")
    if "galgate_prediction_id" not in response.parameters:
        problems.append("no galgate_prediction_id parameter")
    if len(response.raw_output_contents) != len(response.outputs):
        problems.append("raw_output_contents do not match outputs")
        return problems
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        dtype = _DTYPES.get(output.datatype)
        if dtype is None:
            problems.append(f"output {output.name!r} has datatype {output.datatype!r}")
            continue
        count = math.prod(output.shape)
        data = np.frombuffer(raw, dtype=dtype)
        if data.size != count:
            problems.append(f"output {output.name!r}: {data.size} values for shape {output.shape}")
            continue
        if output.name == "label":
            outside = sorted(set(data.tolist()) - LABELS[request.model_name])
            if outside:
                problems.append(f"labels {outside[:5]} are not classes of the model")
        elif output.name == "probabilities" and not request.model_name.startswith("echo"):
            if not np.all((data >= -1e-6) & (data <= 1 + 1e-6)):
                problems.append(f"probabilities outside [0, 1]: {data[:6].tolist()}")
        elif not np.all(np.isfinite(data)) and not request.model_name.startswith("echo"):
            problems.append(f"non-finite {output.name!r} values {data[:6].tolist()}")
    return problems


async def infer(h: Harness, request: ipb.ModelInferRequest) -> None:
    mark = h.log.mark()
    response, _ = await h.unary(h.infer.ModelInfer, request)
    if response is not None:
        problems = infer_problems(request, response)
        if problems:
            h.fail("ModelInfer", problems, mark, f"request {s.describe(request)}")


def results_problems(results: apb.ExperimentResults) -> list[str]:
    """Numbers an experiment's results must never show, whatever outcomes were sent."""
    problems = []
    for arm in (results.control, results.treatment):
        if not (math.isfinite(arm.metric_mean) and math.isfinite(arm.metric_std)):
            problems.append(f"{arm.arm} mean/std {arm.metric_mean}/{arm.metric_std}")
    for name in ("difference", "effect_size"):
        if not math.isfinite(getattr(results, name)):
            problems.append(f"{name} is {getattr(results, name)}")
    for name in ("p_value", "sequential_p_value"):
        value = getattr(results, name)
        if not 0.0 <= value <= 1.0:
            problems.append(f"{name} is {value}")
    if not results.ci_low <= results.ci_high:  # NaN fails this too
        problems.append(f"interval [{results.ci_low}, {results.ci_high}]")
    return problems


async def check_results(h: Harness, experiment_id: int) -> apb.ExperimentResults | None:
    mark = h.log.mark()
    results, err = await h.unary(
        h.admin.GetExperimentResults, apb.GetExperimentResultsRequest(id=experiment_id)
    )
    if err is not None:
        h.fail("GetExperimentResults", [f"{err.code().name} {err.details()[:300]!r}"], mark)
    problems = results_problems(results)
    if problems:
        h.fail("GetExperimentResults", problems, mark, f"results {results}")
    return results


async def predict_victim(h: Harness, victim: str, key: str = "") -> ppb.PredictResponse:
    """A normal Predict on the example's model; it must be answered."""
    mark = h.log.mark()
    request = ppb.PredictRequest(
        model=victim, features=ppb.Features(values=NORMAL_ROW), routing_key=key
    )
    response, err = await h.unary(h.predict.Predict, request)
    if err is not None:
        h.fail(f"Predict on {victim}", [f"{err.code().name} {err.details()[:300]!r}"], mark)
    return response


async def end_experiment(h: Harness, experiment_id: int) -> None:
    """Stop an example's experiment whatever happened to it, so that the next examples
    (and their monitor ticks) never see it running."""
    experiment = await h.gateway.registry.get_experiment(experiment_id)
    if experiment.state in (
        ExperimentState.CREATED,
        ExperimentState.RUNNING,
        ExperimentState.PAUSED,
    ):
        await h.gateway.registry.transition_experiment(
            experiment_id, ExperimentState.STOPPED, actor="fuzz-cleanup", reason="cleanup"
        )
        h.gateway.pool.wake()


async def poison_and_check(
    h: Harness, victim: str, experiment_id: int, values: list[float], batch: bool
) -> None:
    """Predict once per value on ``victim`` (routed by its running experiment), record the
    values as the outcomes, then check the results, routing, a monitor tick and a stop."""
    ids = [(await predict_victim(h, victim, f"key-{i}")).prediction_id for i in range(len(values))]
    outcomes = [
        ppb.RecordOutcomeRequest(prediction_id=p, value=v) for p, v in zip(ids, values, strict=True)
    ]
    if batch:
        await h.unary(h.predict.RecordOutcomes, ppb.RecordOutcomesRequest(outcomes=outcomes))
    else:
        for outcome in outcomes:
            await h.unary(h.predict.RecordOutcome, outcome)
    await check_results(h, experiment_id)
    for i in range(4):  # routing by the (possibly) updated allocation still serves
        await predict_victim(h, victim, f"after-{i}")
    mark = h.log.mark()
    try:
        await h.gateway.monitor.tick()
    except Exception as exc:
        h.fail("experiment monitor tick", [f"raised {exc!r}"], mark)
    _, err = await h.unary(
        h.admin.StopExperiment, apb.ExperimentStateRequest(id=experiment_id, reason="fuzz")
    )
    if err is not None:
        h.fail("StopExperiment", [f"{err.code().name} {err.details()[:300]!r}"], mark)
    await check_results(h, experiment_id)


def neighbour_ids(real: str, offset: int) -> list[str]:
    """Forgeries of the id ``offset`` predictions after (or before) ``real``, for the id
    formats ``<prefix>-<n>`` and ``<prefix>-<n>-<tag>`` (tag reused, and dropped)."""
    parts = real.split("-")
    numbered = [i for i, part in enumerate(parts) if part.isdigit()]
    if not numbered:
        return [real + "-1"]
    i = numbered[-1]
    n = int(parts[i]) + offset
    head = "-".join(parts[:i])
    tail = parts[i + 1 :]
    forged = [f"{head}-{n}"]
    if tail:
        forged.append("-".join([head, str(n), *tail]))
    return forged
