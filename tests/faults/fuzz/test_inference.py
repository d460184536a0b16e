"""Fuzz inference.GRPCInferenceService (Open Inference Protocol v2): ModelInfer with raw and
typed contents, odd datatypes, shapes and parameters; ModelReady, ModelMetadata and the
server calls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._pb.inference import grpc_predict_v2_pb2 as ipb
from tests.faults.fuzz import strategies as s
from tests.faults.fuzz.checks import INFER_MODELS as MODELS
from tests.faults.fuzz.checks import infer
from tests.faults.fuzz.harness import fuzz
from tests.faults.fuzz.onnx_models import trigger_value

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]


@fuzz(80)
@given(request=s.shown(s.infer_requests({k: v[:2] for k, v in MODELS.items()})))
async def test_model_infer_hostile_request_is_refused_or_answered_sanely(harness, request):
    h = harness
    start = h.log.mark()
    await infer(h, request.pb)
    await h.assert_serving(since=start)


@st.composite
def valid_shaped_requests(draw: st.DrawFn) -> ipb.ModelInferRequest:
    """Well-formed requests (right name, shape, datatype) carrying hostile values."""
    model = draw(st.sampled_from(sorted(MODELS)))
    width = MODELS[model][0]
    rows = draw(st.integers(1, 3))
    datatype = draw(st.sampled_from(["FP32", "FP64"]))
    if model.startswith("echo"):
        labels = st.sampled_from([-1.0, 3.0, 7.0, 2.0**62, -(2.0**63), s.F32_MAX, 0.0, 1.0])
        values = []
        for _ in range(rows):
            rest = draw(st.lists(s.feature_values, min_size=2, max_size=2))
            values += [trigger_value(draw(labels)), *rest]
    else:
        values = draw(st.lists(s.feature_values, min_size=rows * width, max_size=rows * width))
    shape = draw(st.sampled_from([[rows, width], [width] if rows == 1 else [rows, width]]))
    tensor = ipb.ModelInferRequest.InferInputTensor(name="input", datatype=datatype, shape=shape)
    request = ipb.ModelInferRequest(model_name=model, inputs=[tensor])
    if draw(st.booleans()):
        request.raw_input_contents.append(s._encode(values, datatype))
    elif datatype == "FP64":
        tensor.contents.fp64_contents.extend(values)
    else:
        tensor.contents.fp32_contents.extend(values)
    return request


@fuzz(80)
@given(request=s.shown(valid_shaped_requests()))
async def test_model_infer_hostile_values_give_valid_outputs(harness, request):
    h = harness
    start = h.log.mark()
    await infer(h, request.pb)
    await h.assert_serving(since=start)


@fuzz(60)
@given(
    name=s.text_or(*MODELS, "nope", ""),
    version=s.text_or("", "1.0.0", "1.0.1", "9.9.9"),
    metadata=st.booleans(),
)
async def test_model_ready_and_metadata_hostile_names(harness, name, version, metadata):
    h = harness
    start = h.log.mark()
    if metadata:
        request = ipb.ModelMetadataRequest(name=name, version=version)
        response, _ = await h.unary(h.infer.ModelMetadata, request)
        if response is not None and response.name != name:
            h.fail("ModelMetadata", [f"answered for {response.name!r}"], h.log.mark())
    else:
        await h.unary(h.infer.ModelReady, ipb.ModelReadyRequest(name=name, version=version))
    await h.assert_serving(since=start)


async def test_server_live_ready_metadata_answer(harness):
    h = harness
    live, _ = await h.unary(h.infer.ServerLive, ipb.ServerLiveRequest(), expected=())
    ready, _ = await h.unary(h.infer.ServerReady, ipb.ServerReadyRequest(), expected=())
    meta, _ = await h.unary(h.infer.ServerMetadata, ipb.ServerMetadataRequest(), expected=())
    assert live.live and ready.ready and meta.name == "galgate"
