"""inference_codec without a server: decoding, output selection and encoding on real models."""

from __future__ import annotations

import numpy as np
import pytest

from gateway._pb.inference import grpc_predict_v2_pb2 as pb
from gateway.errors import InvalidInputError
from gateway.serving.loader import build_loaded
from gateway.serving.model import LoadedModel
from gateway.wire import inference as codec
from tests.inference.conftest import FEATURES, Trained


def _loaded(trained: Trained) -> LoadedModel:
    c = trained.conversion
    return build_loaded(trained.name, "1.0.0", "sha-" + trained.name, c.onnx_bytes, c.signature)


@pytest.fixture(scope="module")
def direction(models) -> LoadedModel:
    return _loaded(models["direction"])


@pytest.fixture(scope="module")
def returns(models) -> LoadedModel:
    return _loaded(models["returns"])


def _request(x: np.ndarray, datatype: str = "FP32") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m", id="r1")
    tensor = request.inputs.add(name="input", datatype=datatype, shape=list(x.shape))
    field = tensor.contents.fp64_contents if datatype == "FP64" else tensor.contents.fp32_contents
    field.extend(x.ravel().tolist())
    return request


def test_to_array_fp64_contents_become_float32_rows(returns, models):
    x = models["returns"].X[:3].astype(np.float64)
    got = codec.to_array(_request(x, "FP64"), returns)
    assert got.dtype == np.float32 and got.shape == (3, len(FEATURES))
    np.testing.assert_array_equal(got, x.astype(np.float32))


def test_to_array_infinity_names_row_and_feature(returns):
    x = np.zeros((3, len(FEATURES)), dtype=np.float32)
    x[2, 0] = np.inf
    with pytest.raises(InvalidInputError, match="row 2 feature 'ret_1m'"):
        codec.to_array(_request(x), returns)


def test_requested_outputs_none_named_returns_all_in_order(direction):
    assert codec.requested_outputs(pb.ModelInferRequest(), direction) == (0, 1)
    assert [s.name for s in codec.output_specs(direction)] == ["label", "probabilities"]


def test_to_response_classifier_encodes_labels_and_probabilities_little_endian(direction, models):
    trained = models["direction"]
    x = trained.X[:4]
    response = codec.to_response(
        direction.run(x), direction, rows=4, chosen=(1, 0), request_id="r1", arm="a",
        experiment_id="exp-1",
    )  # fmt: skip
    expected = trained.expected(x)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("probabilities", "FP32", [4, 3]),
        ("label", "INT64", [4]),
    ]
    probabilities, labels = response.raw_output_contents
    np.testing.assert_array_equal(np.frombuffer(labels, "<i8"), expected["label"])
    np.testing.assert_array_equal(
        np.frombuffer(probabilities, "<f4").reshape(4, 3), expected["probabilities"]
    )
    assert response.parameters["galgate_experiment_id"].string_param == "exp-1"


def test_metadata_response_regressor_lists_versions_oldest_first(returns):
    response = codec.metadata_response(returns, ["1.0.10", "1.0.2"])
    assert list(response.versions) == ["1.0.2", "1.0.10"]
    assert [(t.name, t.datatype, list(t.shape)) for t in response.inputs] == [
        ("input", "FP32", [-1, len(FEATURES)])
    ]
