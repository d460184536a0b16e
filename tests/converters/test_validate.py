"""validate_onnx refuses hostile or unusable ONNX; load_session uses the gateway's options."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression, LogisticRegression

from converters import (
    SIGNATURE_KEY,
    InvalidOnnxError,
    OutputSpec,
    Signature,
    convert,
    load_session,
    validate_onnx,
)


def _model(
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto] = (),
    *,
    inputs: list[onnx.ValueInfoProto] | None = None,
    outputs: list[onnx.ValueInfoProto] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        inputs or [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        outputs or [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    return model


def _regressor_model() -> onnx.ModelProto:
    """input [N, 3] @ W [3, 1] -> variable [N, 1]: a valid, minimal regression model."""
    weights = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "W")
    return _model([helper.make_node("MatMul", ["input", "W"], ["variable"])], [weights])


def _external(tensor: onnx.TensorProto, location: str) -> onnx.TensorProto:
    set_external_data(tensor, location=location, offset=0, length=12)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return tensor


def test_validate_onnx_minimal_handmade_model_infers_regression() -> None:
    data = _regressor_model().SerializeToString()
    signature = validate_onnx(data, feature_names=["a", "b", "c"])
    assert signature.task == "regression"
    assert signature.features == ("a", "b", "c")
    assert signature.value_output == "variable"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an onnx model at all",
        bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    ],
    ids=["empty", "text", "random"],
)
def test_validate_onnx_garbage_bytes_raise_invalid_onnx(data: bytes) -> None:
    with pytest.raises(InvalidOnnxError, match="not an ONNX model"):
        validate_onnx(data)


def test_validate_onnx_external_data_initializer_is_refused() -> None:
    model = _regressor_model()
    _external(model.graph.initializer[0], "../../etc/passwd")
    with pytest.raises(InvalidOnnxError, match=r"external data \(location '../../etc/passwd'\)"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_external_data_in_subgraph_constant_is_refused() -> None:
    hidden = _external(numpy_helper.from_array(np.ones((3, 1), np.float32), "W"), "/etc/shadow")
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["w"], value=hidden)],
        "then",
        [],
        [helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 1])],
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    model = _model(
        [
            helper.make_node(
                "If", ["cond"], ["w_out"], then_branch=then_graph, else_branch=then_graph
            ),
            helper.make_node("MatMul", ["input", "w_out"], ["variable"]),
        ],
        [cond],
    )
    with pytest.raises(InvalidOnnxError, match="/etc/shadow"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_oversize_states_size_and_cap() -> None:
    data = _regressor_model().SerializeToString()
    cap = len(data) - 1
    with pytest.raises(
        InvalidOnnxError, match=f"is {len(data)} bytes; the size cap is {cap} bytes"
    ):
        validate_onnx(data, max_bytes=cap)


def test_validate_onnx_width_differs_from_expected_says_so(regression_data) -> None:
    X, y = regression_data
    six = convert(LinearRegression().fit(X, y), X)
    five = convert(LinearRegression().fit(X[:, :5], y), X[:, :5])
    with pytest.raises(InvalidOnnxError, match="input width is 6, expected 5"):
        validate_onnx(six.onnx_bytes, expected=five.signature)


def test_validate_onnx_outputs_differ_from_expected_says_so(binary_data, regression_data) -> None:
    X, y = binary_data
    classifier = convert(LogisticRegression().fit(X, y), X)
    Xr, yr = regression_data
    regressor = convert(LinearRegression().fit(Xr, yr), Xr)
    with pytest.raises(InvalidOnnxError, match=r"outputs are .*label.*expected .*variable"):
        validate_onnx(classifier.onnx_bytes, expected=regressor.signature)


def test_validate_onnx_checker_failure_is_refused() -> None:
    model = _model([helper.make_node("MatMul", ["input", "missing"], ["variable"])])
    with pytest.raises(InvalidOnnxError, match="checker"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_two_inputs_are_refused() -> None:
    model = _model(
        [helper.make_node("Add", ["input", "other"], ["variable"])],
        inputs=[
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("other", TensorProto.FLOAT, ["N", 3]),
        ],
        outputs=[helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 3])],
    )
    with pytest.raises(InvalidOnnxError, match="2 inputs"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_dynamic_width_input_is_refused() -> None:
    model = _model(
        [helper.make_node("ReduceSum", ["input"], ["variable"], keepdims=1, axes=[1])],
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "F"])],
    )
    model.opset_import[0].version = 12  # ReduceSum takes axes as an attribute before 13
    with pytest.raises(InvalidOnnxError, match="fixed n_features"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_zipmap_output_is_refused(binary_data) -> None:
    X, y = binary_data
    model = LogisticRegression().fit(X, y)
    onx = convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, 6]))], target_opset=15
    )
    with pytest.raises(InvalidOnnxError, match="zipmap=False"):
        validate_onnx(onx.SerializeToString())


def test_validate_onnx_without_metadata_infers_classification(multiclass_data) -> None:
    X, y = multiclass_data
    conversion = convert(LogisticRegression().fit(X, y), X)
    model = onnx.load_from_string(conversion.onnx_bytes)
    del model.metadata_props[:]
    names = [f"x{i}" for i in range(6)]
    signature = validate_onnx(model.SerializeToString(), feature_names=names)
    assert signature.task == "classification"
    assert signature.class_labels == (0, 1, 2)
    assert signature.features == tuple(names)
    assert signature.outputs == conversion.signature.outputs


def test_validate_onnx_embedded_signature_disagreeing_with_graph_is_refused(
    regression_data,
) -> None:
    X, y = regression_data
    conversion = convert(LinearRegression().fit(X, y), X)
    model = onnx.load_from_string(conversion.onnx_bytes)
    lying = conversion.signature.to_dict()
    lying["features"] = ["a", "b"]
    for prop in model.metadata_props:
        if prop.key == SIGNATURE_KEY:
            prop.value = Signature.from_dict(lying).to_json()
    with pytest.raises(InvalidOnnxError, match="2 features vs graph input width 6"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_feature_names_differing_from_embedded_are_refused(regression_data) -> None:
    X, y = regression_data
    conversion = convert(LinearRegression().fit(X, y), X)
    with pytest.raises(InvalidOnnxError, match="differ from the model's embedded features"):
        validate_onnx(conversion.onnx_bytes, feature_names=list("abcdef"))


def test_load_session_uses_single_thread_no_spin_options() -> None:
    session = load_session(_regressor_model().SerializeToString())
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    out = session.run(None, {"input": np.ones((2, 3), dtype=np.float32)})[0]
    np.testing.assert_array_equal(out, [[3.0], [3.0]])


def test_load_session_garbage_raises_invalid_onnx() -> None:
    with pytest.raises(InvalidOnnxError, match="onnxruntime cannot load"):
        load_session(b"garbage")


def _with_signature_metadata(model: onnx.ModelProto, value: str) -> bytes:
    model.metadata_props.append(onnx.StringStringEntryProto(key=SIGNATURE_KEY, value=value))
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{nope", "not valid JSON"),
        ("[" * 100_000, "nested too deeply"),
        ('{"features": "abc"}', "lacks the key"),
    ],
    ids=["bad-json", "deep", "incomplete"],
)
def test_validate_onnx_invalid_embedded_signature_is_refused(value: str, message: str) -> None:
    data = _with_signature_metadata(_regressor_model(), value)
    with pytest.raises(
        InvalidOnnxError, match=f"metadata 'galgate.signature' is invalid: .*{message}"
    ):
        validate_onnx(data)


def test_validate_onnx_embedded_signature_naming_other_input_and_outputs_is_refused() -> None:
    lying = Signature(
        ("a", "b", "c"),
        "features",
        (OutputSpec("prediction", "float32", (None, 1)),),
        "regression",
        (),
        None,
        None,
        "prediction",
    )
    data = _with_signature_metadata(_regressor_model(), lying.to_json())
    with pytest.raises(InvalidOnnxError) as err:
        validate_onnx(data)
    assert "input name 'features' vs graph 'input'" in str(err.value)
    assert "outputs [prediction: float32 [None, 1]] vs graph [variable: float32 [None, 1]]" in str(
        err.value
    )


def test_validate_onnx_feature_names_of_wrong_count_are_refused() -> None:
    with pytest.raises(InvalidOnnxError, match="3 features but 2 feature names were given"):
        validate_onnx(_regressor_model().SerializeToString(), feature_names=["a", "b"])


def test_validate_onnx_repeated_feature_names_are_refused() -> None:
    with pytest.raises(InvalidOnnxError, match="unique"):
        validate_onnx(_regressor_model().SerializeToString(), feature_names=["a", "b", "a"])


def test_validate_onnx_not_bytes_is_refused() -> None:
    with pytest.raises(InvalidOnnxError, match="must be bytes, got str"):
        validate_onnx("input.onnx")  # type: ignore[arg-type]


def test_validate_onnx_outputs_of_no_known_task_are_refused() -> None:
    model = _model(
        [helper.make_node("Cast", ["input"], ["codes"], to=TensorProto.INT64)],
        outputs=[helper.make_tensor_value_info("codes", TensorProto.INT64, ["N", 3])],
    )
    with pytest.raises(InvalidOnnxError, match=r"cannot infer the task from outputs \['codes"):
        validate_onnx(model.SerializeToString())
