"""validate_onnx refuses hostile or unusable ONNX; load_session uses the gateway's options."""

from __future__ import annotations

import json

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
from converters.limits import (
    MAX_CLASSES,
    MAX_FEATURES,
    MAX_NAME_CHARS,
    MAX_OUTPUTS,
    MAX_SIGNATURE_CHARS,
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


def _summing_model(width: int) -> bytes:
    """input [N, width] -> ReduceSum -> variable [N, 1]: a valid model of any declared width."""
    model = _model(
        [helper.make_node("ReduceSum", ["input"], ["variable"], keepdims=1, axes=[1])],
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", width])],
    )
    model.opset_import[0].version = 12  # ReduceSum takes axes as an attribute before 13
    return model.SerializeToString()


@pytest.mark.parametrize("width", [200_000, 2**40], ids=["200k", "2**40"])
def test_validate_onnx_tiny_model_declaring_too_many_features_is_refused(width: int) -> None:
    data = _summing_model(width)
    assert len(data) < 200  # a few bytes claim a signature of megabytes
    with pytest.raises(InvalidOnnxError) as err:
        validate_onnx(data)
    message = str(err.value)
    assert message == (
        f"input 'input' declares {width} features; at most {MAX_FEATURES} are allowed"
    )


def test_validate_onnx_widest_allowed_model_is_accepted() -> None:
    signature = validate_onnx(_summing_model(MAX_FEATURES))
    assert signature.n_features == MAX_FEATURES


def _classifier_model(declared_classes: int, signature: str | None = None) -> bytes:
    """input [N, 3] -> label int64 [N] and probabilities float32 [N, declared_classes]
    (the input tiled along axis 1: a few bytes, however many classes are declared)."""
    repeats = numpy_helper.from_array(np.array([1, declared_classes // 3], np.int64), "repeats")
    model = _model(
        [
            helper.make_node("Tile", ["input", "repeats"], ["probabilities"]),
            helper.make_node("ArgMax", ["input"], ["label"], axis=1, keepdims=0),
        ],
        [repeats],
        outputs=[
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, ["N", declared_classes]
            ),
        ],
    )
    if signature is not None:
        model.metadata_props.append(onnx.StringStringEntryProto(key=SIGNATURE_KEY, value=signature))
    return model.SerializeToString()


def test_validate_onnx_probabilities_declaring_billions_of_classes_are_refused() -> None:
    data = _classifier_model(3 * 10**9)
    assert len(data) < 400
    with pytest.raises(
        InvalidOnnxError,
        match=f"'probabilities' declares 3000000000 classes; at most {MAX_CLASSES} are allowed",
    ):
        validate_onnx(data)


def _classifier_signature(labels: list[int | str]) -> str:
    return Signature(
        ("a", "b", "c"),
        "input",
        (
            OutputSpec("label", "int64", (None,)),
            OutputSpec("probabilities", "float32", (None, len(labels))),
        ),
        "classification",
        tuple(labels),
        "label",
        "probabilities",
        None,
    ).to_json()


def test_validate_onnx_embedded_signature_with_huge_class_label_list_is_refused() -> None:
    labels = [f"bucket {i}" for i in range(3 * (MAX_CLASSES // 3 + 1))]  # just over the cap
    document = json.loads(_classifier_signature(labels[:3]))
    document["class_labels"] = labels
    document["outputs"][1]["shape"] = [None, len(labels)]
    data = _classifier_model(len(labels), json.dumps(document))
    with pytest.raises(InvalidOnnxError) as err:
        validate_onnx(data)
    message = str(err.value)
    assert f"declares {len(labels)} class labels; at most {MAX_CLASSES} are allowed" in message
    assert len(message) < 300


def test_validate_onnx_embedded_signature_longer_than_cap_is_refused_before_parsing() -> None:
    padding = "x" * MAX_SIGNATURE_CHARS
    data = _classifier_model(3, _classifier_signature([0, 1, 2])[:-1] + f',"pad":"{padding}"}}')
    with pytest.raises(InvalidOnnxError, match=f"at most {MAX_SIGNATURE_CHARS} are allowed"):
        validate_onnx(data)


def test_validate_onnx_overlong_output_name_is_refused_with_clipped_message() -> None:
    name = "p" * 100_000
    model = _model(
        [helper.make_node("MatMul", ["input", "W"], [name])],
        [numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "W")],
        outputs=[helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 1])],
    )
    with pytest.raises(InvalidOnnxError) as err:
        validate_onnx(model.SerializeToString())
    message = str(err.value)
    assert f"is 100000 characters long; at most {MAX_NAME_CHARS} are allowed" in message
    assert len(message) < 300


def test_validate_onnx_too_many_outputs_are_refused() -> None:
    count = MAX_OUTPUTS + 1
    model = _model(
        [helper.make_node("Identity", ["input"], [f"o{i}"]) for i in range(count)],
        outputs=[
            helper.make_tensor_value_info(f"o{i}", TensorProto.FLOAT, ["N", 3])
            for i in range(count)
        ],
    )
    with pytest.raises(InvalidOnnxError, match=f"declares {count} outputs; at most {MAX_OUTPUTS}"):
        validate_onnx(model.SerializeToString())


def test_validate_onnx_many_inputs_message_is_bounded() -> None:
    names = [f"input{i}" for i in range(1000)]
    model = _model(
        [helper.make_node("Sum", names, ["variable"])],
        inputs=[helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 1]) for n in names],
    )
    with pytest.raises(InvalidOnnxError, match=r"1000 inputs \['input0', .*and 995 more\]") as err:
        validate_onnx(model.SerializeToString())
    assert len(str(err.value)) < 300


def test_validate_onnx_feature_names_differing_from_embedded_name_first_difference(
    regression_data,
) -> None:
    X, y = regression_data
    conversion = convert(LinearRegression().fit(X, y), X)
    names = ["f0", "f1", "x" * 10_000, "f3", "f4", "f5"]
    with pytest.raises(InvalidOnnxError, match="name 2 is 'xxx") as err:
        validate_onnx(conversion.onnx_bytes, feature_names=names)
    assert "the model's is 'f2'" in str(err.value) and len(str(err.value)) < 300
