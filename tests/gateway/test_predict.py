"""PredictionService over a real in-process server: happy paths and every error status."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from converters import load_session
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from tests.gateway.conftest import FEATURES


def _local(conversion, x):
    session = load_session(conversion.onnx_bytes)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input": x}), strict=True))


def _named(row) -> pb.Features:
    return pb.Features(values={f: float(v) for f, v in zip(FEATURES, row, strict=True)})


async def test_predict_named_features_matches_local_onnxruntime(stub, trained):
    row = trained.X[3]
    response = await stub.Predict(pb.PredictRequest(model="clf", features=_named(row)))
    expected = _local(trained.clf_a, row[None, :])
    assert response.version == "1.0.0"
    assert response.arm == "production"
    assert response.rows == 1
    assert list(response.class_labels) == ["0", "1", "2"]
    np.testing.assert_allclose(response.probabilities, expected["probabilities"].ravel(), rtol=1e-6)
    assert list(response.labels) == expected["label"].tolist()
    assert response.prediction_id


async def test_predict_packed_tensor_many_rows_matches_local(stub, trained):
    x = trained.X[:64]
    request = pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=64, data=x.tobytes()))
    response = await stub.Predict(request)
    expected = _local(trained.clf_a, x)
    assert response.rows == 64
    assert list(response.labels) == expected["label"].tolist()
    np.testing.assert_allclose(
        np.asarray(response.probabilities).reshape(64, 3), expected["probabilities"], rtol=1e-6
    )


async def test_predict_tensor_values_regressor_returns_values(stub, trained):
    x = trained.X[:5]
    request = pb.PredictRequest(
        model="reg", tensor=pb.FloatTensor(rows=5, values=x.ravel().tolist())
    )
    response = await stub.Predict(request)
    expected = _local(trained.reg, x)["variable"].ravel()
    np.testing.assert_allclose(response.values, expected, rtol=1e-6)
    assert not response.labels and not response.class_labels


async def test_predict_ids_are_unique(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]))
    ids = {(await stub.Predict(request)).prediction_id for _ in range(20)}
    assert len(ids) == 20


async def test_predict_echoes_request_id(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]), request_id="abc")
    assert (await stub.Predict(request)).request_id == "abc"


async def test_predict_pinned_version_serves_that_version(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]), version="1.0.0")
    response = await stub.Predict(request)
    assert response.arm == "pinned" and response.version == "1.0.0"


async def _status(stub, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Predict(request)
    return err.value


async def test_predict_unknown_model_is_not_found(stub):
    err = await _status(stub, pb.PredictRequest(model="nope", features=pb.Features()))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "nope" in err.details() and "clf" in err.details()


async def test_predict_unloaded_pinned_version_is_not_found(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]), version="9.9.9")
    err = await _status(stub, request)
    assert err.code() is grpc.StatusCode.NOT_FOUND
    assert "9.9.9" in err.details() and "1.0.0" in err.details()


async def test_predict_missing_and_unknown_features_are_listed(stub):
    features = pb.Features(values={"ret_1m": 1.0, "bogus": 2.0})
    err = await _status(stub, pb.PredictRequest(model="clf", features=features))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "ret_5m" in err.details() and "bogus" in err.details()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300])
async def test_predict_non_finite_feature_is_invalid_argument(stub, trained, bad):
    row = trained.X[0].astype(float).copy()
    row[2] = bad
    err = await _status(stub, pb.PredictRequest(model="clf", features=_named(row)))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "vol_15m" in err.details()


async def test_predict_tensor_with_nan_names_row_and_feature(stub, trained):
    x = trained.X[:3].copy()
    x[1, 0] = np.nan
    err = await _status(
        stub, pb.PredictRequest(model="clf", tensor=pb.FloatTensor(rows=3, data=x.tobytes()))
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "row 1" in err.details() and "ret_1m" in err.details()


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        (pb.FloatTensor(rows=2, data=b"\x00" * 20), "expected 2 rows x 6 features x 4 bytes = 48"),
        (pb.FloatTensor(rows=1, values=[1.0] * 5), "expected 1 rows x 6 features = 6"),
        (pb.FloatTensor(rows=0, values=[]), "at least 1"),
        (pb.FloatTensor(rows=1, data=b"\x00" * 24, values=[1.0] * 6), "not both"),
    ],
)
async def test_predict_malformed_tensor_is_invalid_argument(stub, tensor, expected):
    err = await _status(stub, pb.PredictRequest(model="clf", tensor=tensor))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in err.details()


async def test_predict_without_input_is_invalid_argument(stub):
    err = await _status(stub, pb.PredictRequest(model="clf"))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "features" in err.details() and "tensor" in err.details()


async def test_predict_stream_answers_in_order_and_survives_bad_messages(stub, trained):
    requests = [
        pb.PredictRequest(model="clf", features=_named(trained.X[i]), request_id=str(i))
        for i in range(5)
    ]
    requests.insert(2, pb.PredictRequest(model="nope", request_id="bad"))

    async def feed():
        for request in requests:
            yield request

    responses = [r async for r in stub.PredictStream(feed())]
    assert [r.request_id for r in responses] == ["0", "1", "bad", "2", "3", "4"]
    assert responses[2].error.code == "NOT_FOUND"
    assert all(not r.HasField("error") and r.rows == 1 for i, r in enumerate(responses) if i != 2)


async def test_predict_honours_client_deadline(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]))
    response = await stub.Predict(request, timeout=5)
    assert response.rows == 1


async def test_predict_overlong_routing_key_is_invalid_argument(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]), routing_key="k" * 257)
    err = await _status(stub, request)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "routing_key has 257 characters; at most 256" in err.details()


async def test_predict_routing_key_with_nul_is_invalid_argument(stub, trained):
    request = pb.PredictRequest(model="clf", features=_named(trained.X[0]), routing_key="a\x00b")
    err = await _status(stub, request)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "NUL" in err.details()
