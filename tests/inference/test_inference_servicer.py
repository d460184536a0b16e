"""inference.GRPCInferenceService over a real gateway, registry and converted models."""

from __future__ import annotations

import importlib.metadata

import grpc
import numpy as np
import pytest

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.server.inference_servicer import InferenceServicer
from gateway.server.status import rpc_methods
from tests.inference.conftest import FEATURES, publish

F = len(FEATURES)
_DTYPES = {"FP32": "<f4", "INT64": "<i8"}


def infer_request(
    model: str,
    x: np.ndarray,
    *,
    datatype: str = "FP32",
    shape: list[int] | None = None,
    outputs: tuple[str, ...] = (),
    version: str = "",
    name: str = "input",
) -> pb.ModelInferRequest:
    """A request carrying ``x`` as raw little-endian bytes, the way tritonclient sends it."""
    dtype = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4"}[datatype]
    request = pb.ModelInferRequest(model_name=model, model_version=version, id="req-42")
    request.inputs.add(
        name=name, datatype=datatype, shape=list(x.shape) if shape is None else shape
    )
    request.raw_input_contents.append(np.ascontiguousarray(x, dtype=dtype).tobytes())
    for output in outputs:
        request.outputs.add(name=output)
    return request


def decode(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """Outputs by name, from raw_output_contents and the outputs' metadata."""
    assert len(response.outputs) == len(response.raw_output_contents)
    return {
        o.name: np.frombuffer(raw, _DTYPES[o.datatype]).reshape(list(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


# -- server and model status ------------------------------------------------------------


async def test_server_live_running_gateway_is_live(stub):
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live is True


async def test_server_ready_after_start_is_ready(stub):
    assert (await stub.ServerReady(pb.ServerReadyRequest())).ready is True


async def test_server_metadata_running_gateway_names_galgate_and_its_version(stub):
    response = await stub.ServerMetadata(pb.ServerMetadataRequest())
    assert response.name == "galgate"
    assert response.version == importlib.metadata.version("galgate")
    assert list(response.extensions) == []


@pytest.mark.parametrize(
    ("name", "version", "ready"),
    [
        ("direction", "", True),
        ("direction", "1.0.0", True),
        ("direction", "9.9.9", False),
        ("nope", "", False),
    ],
)
async def test_model_ready_served_or_not_answers_accordingly(stub, name, version, ready):
    response = await stub.ModelReady(pb.ModelReadyRequest(name=name, version=version))
    assert response.ready is ready


async def test_model_metadata_classifier_describes_its_tensors(stub):
    response = await stub.ModelMetadata(pb.ModelMetadataRequest(name="direction"))
    assert response.name == "direction"
    assert list(response.versions) == ["1.0.0"]
    assert response.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in response.inputs] == [
        ("input", "FP32", [-1, F])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in response.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 3]),
    ]


async def test_model_metadata_regressor_describes_its_variable(stub):
    response = await stub.ModelMetadata(pb.ModelMetadataRequest(name="returns", version="1.0.0"))
    assert [(t.name, t.datatype, list(t.shape)) for t in response.outputs] == [
        ("variable", "FP32", [-1, 1])
    ]


async def test_model_metadata_unknown_model_is_not_found(stub):
    err = await rpc_error(stub.ModelMetadata(pb.ModelMetadataRequest(name="nope")))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "'nope'" in err.details() and "direction" in err.details()


async def test_model_metadata_after_promotion_lists_every_loaded_version(
    stub, gateway, registry, models
):
    await publish(registry, models["direction"], version="1.0.1")
    await gateway.pool.reconcile()
    response = await stub.ModelMetadata(pb.ModelMetadataRequest(name="direction"))
    assert list(response.versions) == ["1.0.0", "1.0.1"]
    x = models["direction"].X[:2]
    served = await stub.ModelInfer(infer_request("direction", x))
    assert served.model_version == "1.0.1"
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="direction", version="1.0.0"))).ready


# -- inference: happy paths -------------------------------------------------------------


async def test_model_infer_classifier_matches_onnxruntime(stub, models):
    trained = models["direction"]
    x = trained.X[:16]
    response = await stub.ModelInfer(infer_request("direction", x))
    expected = trained.expected(x)
    got = decode(response)
    assert response.id == "req-42"
    assert (response.model_name, response.model_version) == ("direction", "1.0.0")
    assert response.parameters["galgate_arm"].string_param == "production"
    assert list(got) == ["label", "probabilities"]
    assert set(np.unique(got["label"])) <= {-1, 0, 1}  # class labels, not indices
    np.testing.assert_array_equal(got["label"], expected["label"])
    np.testing.assert_array_equal(got["probabilities"], expected["probabilities"])


async def test_model_infer_string_labels_returns_the_graphs_class_index(stub, models):
    trained = models["regime"]
    x = trained.X[:32]
    got = decode(await stub.ModelInfer(infer_request("regime", x)))
    expected = trained.expected(x)
    assert len(np.unique(expected["label"])) > 1
    np.testing.assert_array_equal(got["label"], expected["label"])
    np.testing.assert_array_equal(got["probabilities"], expected["probabilities"])


async def test_model_infer_regressor_matches_onnxruntime(stub, models):
    trained = models["returns"]
    x = trained.X[:8]
    got = decode(await stub.ModelInfer(infer_request("returns", x)))
    assert list(got) == ["variable"]
    assert got["variable"].shape == (8, 1)
    np.testing.assert_array_equal(got["variable"], trained.expected(x)["variable"])


async def test_model_infer_fp32_contents_equal_raw_bytes(stub, models):
    x = models["returns"].X[:3]
    request = pb.ModelInferRequest(model_name="returns")
    request.inputs.add(name="input", datatype="FP32", shape=[3, F]).contents.fp32_contents.extend(
        x.ravel().tolist()
    )
    got = decode(await stub.ModelInfer(request))
    np.testing.assert_array_equal(got["variable"], models["returns"].expected(x)["variable"])


async def test_model_infer_fp64_raw_and_contents_are_converted_to_fp32(stub, models):
    trained = models["direction"]
    x64 = trained.X[:4].astype(np.float64)
    expected = trained.expected(x64.astype(np.float32))
    raw = decode(await stub.ModelInfer(infer_request("direction", x64, datatype="FP64")))
    request = pb.ModelInferRequest(model_name="direction")
    request.inputs.add(name="input", datatype="FP64", shape=[4, F]).contents.fp64_contents.extend(
        x64.ravel().tolist()
    )
    contents = decode(await stub.ModelInfer(request))
    for got in (raw, contents):
        np.testing.assert_array_equal(got["label"], expected["label"])
        np.testing.assert_array_equal(got["probabilities"], expected["probabilities"])


async def test_model_infer_one_dimensional_input_is_one_row(stub, models):
    x = models["direction"].X[5]
    got = decode(await stub.ModelInfer(infer_request("direction", x, shape=[F])))
    expected = models["direction"].expected(x.reshape(1, F))
    assert got["probabilities"].shape == (1, 3)
    np.testing.assert_array_equal(got["label"], expected["label"])


async def test_model_infer_requested_outputs_returns_only_those_in_order(stub, models):
    x = models["direction"].X[:2]
    request = infer_request("direction", x, outputs=("probabilities",))
    response = await stub.ModelInfer(request)
    assert [o.name for o in response.outputs] == ["probabilities"]
    assert len(response.raw_output_contents) == 1
    request = infer_request("direction", x, outputs=("probabilities", "label"))
    assert [o.name for o in (await stub.ModelInfer(request)).outputs] == ["probabilities", "label"]


async def test_model_infer_pinned_version_is_served_as_pinned_arm(stub, models):
    x = models["returns"].X[:1]
    response = await stub.ModelInfer(infer_request("returns", x, version="1.0.0"))
    assert response.model_version == "1.0.0"
    assert response.parameters["galgate_arm"].string_param == "pinned"


async def test_model_infer_routing_key_string_param_is_accepted(stub, models):
    request = infer_request("returns", models["returns"].X[:1])
    request.parameters["routing_key"].string_param = "account-17"
    response = await stub.ModelInfer(request)
    assert response.parameters["galgate_arm"].string_param == "production"


# -- inference: errors ------------------------------------------------------------------


async def test_model_infer_unknown_model_is_not_found(stub, models):
    err = await rpc_error(stub.ModelInfer(infer_request("nope", models["returns"].X[:1])))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "model 'nope' is not served" in err.details()


async def test_model_infer_unknown_version_is_not_found(stub, models):
    request = infer_request("returns", models["returns"].X[:1], version="7.0.0")
    err = await rpc_error(stub.ModelInfer(request))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "version '7.0.0'" in err.details() and "['1.0.0']" in err.details()


def _x(rows: int = 2, cols: int = F) -> np.ndarray:
    return np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) / 10


def _with_nan() -> pb.ModelInferRequest:
    x = _x()
    x[1, 2] = np.nan
    return infer_request("returns", x)


def _fp64_overflow() -> pb.ModelInferRequest:
    x = _x().astype(np.float64)
    x[0, 3] = 1e300
    return infer_request("returns", x, datatype="FP64")


def _short_raw() -> pb.ModelInferRequest:
    request = infer_request("returns", _x())
    request.raw_input_contents[0] = request.raw_input_contents[0][:-4]
    return request


def _short_contents() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="returns")
    request.inputs.add(name="input", datatype="FP32", shape=[2, F]).contents.fp32_contents.extend(
        [0.5] * (2 * F - 1)
    )
    return request


def _wrong_contents_field() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="returns")
    request.inputs.add(name="input", datatype="FP32", shape=[1, F]).contents.fp64_contents.extend(
        [0.5] * F
    )
    return request


def _two_inputs() -> pb.ModelInferRequest:
    request = infer_request("returns", _x())
    request.inputs.add(name="extra", datatype="FP32", shape=[2, F])
    request.raw_input_contents.append(request.raw_input_contents[0])
    return request


def _no_data() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="returns")
    request.inputs.add(name="input", datatype="FP32", shape=[2, F])
    return request


def _raw_and_contents() -> pb.ModelInferRequest:
    request = infer_request("returns", _x(1))
    request.inputs[0].contents.fp32_contents.extend([0.5] * F)
    return request


def _integer_routing_key() -> pb.ModelInferRequest:
    request = infer_request("returns", _x(1))
    request.parameters["routing_key"].int64_param = 17
    return request


def _overlong_routing_key() -> pb.ModelInferRequest:
    request = infer_request("returns", _x(1))
    request.parameters["routing_key"].string_param = "k" * 257
    return request


def _classification_parameter() -> pb.ModelInferRequest:
    request = infer_request("direction", _x(1))
    request.outputs.add(name="label").parameters["classification"].int64_param = 2
    return request


INVALID = {
    "wrong datatype": (
        lambda: infer_request("returns", _x().astype(np.int32), datatype="INT32"),
        "input 'input' has datatype 'INT32'; expected FP32 (or FP64)",
    ),
    "wrong width": (
        lambda: infer_request("returns", _x(2, F + 1)),
        f"input 'input' has shape [2, {F + 1}]; expected [rows, {F}]",
    ),
    "three dimensions": (
        lambda: infer_request("returns", _x(), shape=[1, 2, F]),
        f"has shape [1, 2, {F}]; expected [rows, {F}]",
    ),
    "zero rows": (
        lambda: infer_request("returns", _x(), shape=[0, F]),
        f"has shape [0, {F}]; expected [rows, {F}] with rows >= 1",
    ),
    "short raw bytes": (
        _short_raw,
        f"raw_input_contents[0] has {2 * F * 4 - 4} bytes; expected shape [2, {F}] x 4 bytes "
        f"(FP32) = {2 * F * 4}",
    ),
    "long raw bytes for shape": (
        lambda: infer_request("returns", _x(3), shape=[2, F]),
        f"raw_input_contents[0] has {3 * F * 4} bytes; expected shape [2, {F}]",
    ),
    "short contents": (
        _short_contents,
        f"contents.fp32_contents has {2 * F - 1} values; expected shape [2, {F}] = {2 * F}",
    ),
    "wrong contents field": (
        _wrong_contents_field,
        "its values belong in contents.fp32_contents; got contents.fp64_contents",
    ),
    "NaN": (_with_nan, "NaN/Inf (or out of float32 range) at row 1 feature 'spread'"),
    "FP64 beyond float32": (_fp64_overflow, "at row 0 feature 'imbalance'"),
    "no inputs": (
        lambda: pb.ModelInferRequest(model_name="returns"),
        f"model 'returns' takes exactly one input, 'input' FP32 [rows, {F}]; got 0 inputs",
    ),
    "two inputs": (_two_inputs, "takes exactly one input"),
    "wrong input name": (
        lambda: infer_request("returns", _x(), name="features"),
        "unknown input 'features'; model 'returns' takes one input 'input'",
    ),
    "no data": (_no_data, "input 'input' has no data; set raw_input_contents[0]"),
    "raw and contents": (_raw_and_contents, "give raw_input_contents or contents, not both"),
    "unknown output": (
        lambda: infer_request("direction", _x(), outputs=("label", "proba")),
        "unknown output 'proba' requested; model 'direction' outputs ['label', 'probabilities']",
    ),
    "repeated output": (
        lambda: infer_request("direction", _x(), outputs=("label", "label")),
        "output 'label' is requested more than once",
    ),
    "classification extension": (
        _classification_parameter,
        "output 'label': parameters ['classification'] are not supported",
    ),
    "integer routing key": (
        _integer_routing_key,
        "parameter 'routing_key' must be a string_param; got int64_param",
    ),
    "overlong routing key": (
        _overlong_routing_key,
        "routing_key has 257 characters; at most 256 are allowed",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_model_infer_invalid_request_is_invalid_argument_saying_why(stub, case):
    make, message = INVALID[case]
    err = await rpc_error(stub.ModelInfer(make()))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert message in err.details()


def test_inference_servicer_every_rpc_is_wrapped_with_error_mapping():
    methods = rpc_methods(InferenceServicer)
    assert set(methods) == set(rpc_methods(pb_grpc.GRPCInferenceServiceServicer))
    assert all(getattr(m, "__grpc_errors__", False) for m in methods.values())
