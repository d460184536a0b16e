"""Read and rewrite ONNX graph interfaces: output contract, specs, signature metadata."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from converters.errors import ConversionError, SignatureError
from converters.limits import MAX_RANK, clip
from converters.signature import SIGNATURE_KEY, OutputSpec, Signature

LABEL_OUTPUT = "label"
PROBABILITY_OUTPUT = "probabilities"
VALUE_OUTPUT = "variable"
BATCH_DIM = "N"


def dtype_name(elem_type: int) -> str:
    """numpy-style name of an ONNX tensor element type ("float32", "int64", "string").

    >>> dtype_name(TensorProto.FLOAT), dtype_name(TensorProto.STRING)
    ('float32', 'string')
    """
    if elem_type == TensorProto.STRING:
        return "string"
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return f"onnx:{elem_type}"


def value_spec(value: onnx.ValueInfoProto) -> OutputSpec | None:
    """OutputSpec of a tensor-typed graph value; None for sequences, maps and the like.

    Raises SignatureError when the value's name or shape exceeds ``converters.limits``.
    """
    if value.type.WhichOneof("value") != "tensor_type":
        return None
    tensor = value.type.tensor_type
    rank = len(tensor.shape.dim)
    if rank > MAX_RANK:  # refuse before copying a million declared dimensions
        raise SignatureError(
            f"value {clip(value.name)} declares {rank} dimensions; at most {MAX_RANK} are allowed"
        )
    dims: tuple[int | None, ...] = ()
    if tensor.HasField("shape"):
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return OutputSpec(value.name, dtype_name(tensor.elem_type), dims)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs a caller must feed (initializers listed as inputs are left out)."""
    initialized = {t.name for t in model.graph.initializer}
    initialized.update(s.values.name for s in model.graph.sparse_initializer)
    return [v for v in model.graph.input if v.name not in initialized]


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if value.name == old:
            value.name = new


def _fresh(graph: onnx.GraphProto, base: str) -> str:
    used = {n for node in graph.node for n in (*node.input, *node.output)}
    used.update(v.name for v in (*graph.input, *graph.output, *graph.initializer))
    name, i = base, 0
    while name in used:
        i += 1
        name = f"{base}_{i}"
    return name


def _claim(graph: onnx.GraphProto, current: str, wanted: str) -> None:
    """Give the value ``current`` the name ``wanted``, moving any other holder aside."""
    if current == wanted:
        return
    used = {n for node in graph.node for n in (*node.input, *node.output)}
    used.update(v.name for v in (*graph.input, *graph.output, *graph.initializer))
    if wanted in used:
        _rename(graph, wanted, _fresh(graph, f"__{wanted}"))
    if current:
        _rename(graph, current, wanted)


def _tensor_outputs(graph: onnx.GraphProto) -> list[tuple[onnx.ValueInfoProto, int, int]]:
    found = []
    for value in graph.output:
        if value.type.WhichOneof("value") != "tensor_type":
            raise ConversionError(
                f"converter produced a non-tensor output {value.name!r} (a ZipMap?); "
                "expected plain tensors"
            )
        tensor = value.type.tensor_type
        found.append((value, tensor.elem_type, len(tensor.shape.dim)))
    return found


def apply_output_contract(model: onnx.ModelProto, task: str, n_classes: int) -> None:
    """Rewrite ``model`` in place to galgate's output contract.

    Classifiers end with ``label`` (int64 [N]; a string label output is replaced by
    the ArgMax of the probabilities, i.e. the class index) and ``probabilities``
    (float32 [N, n_classes]); regressors with ``variable`` (float32 [N, 1]). The
    input and outputs share the symbolic batch dimension ``N``.
    """
    graph = model.graph
    outputs = _tensor_outputs(graph)
    floats = [v for v, elem, _ in outputs if elem == TensorProto.FLOAT]
    if task == "classification":
        labels = [v for v, elem, _ in outputs if elem in (TensorProto.INT64, TensorProto.STRING)]
        if len(outputs) != 2 or len(labels) != 1 or len(floats) != 1:
            raise ConversionError(
                f"converter produced outputs {[v.name for v, _, _ in outputs]}; expected "
                "one label tensor and one float probability tensor"
            )
        label, proba = labels[0], floats[0]
        _claim(graph, proba.name, PROBABILITY_OUTPUT)
        if label.type.tensor_type.elem_type == TensorProto.STRING:
            # an int64 label output cannot carry strings: emit the class index instead
            _rename(graph, label.name, _fresh(graph, "__string_label"))
            _claim(graph, "", LABEL_OUTPUT)
            graph.node.append(
                helper.make_node("ArgMax", [PROBABILITY_OUTPUT], [LABEL_OUTPUT], axis=1, keepdims=0)
            )
        else:
            _claim(graph, label.name, LABEL_OUTPUT)
        contract = [
            helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [BATCH_DIM]),
            helper.make_tensor_value_info(
                PROBABILITY_OUTPUT, TensorProto.FLOAT, [BATCH_DIM, n_classes]
            ),
        ]
    else:
        if len(outputs) != 1 or len(floats) != 1 or outputs[0][2] != 2:
            raise ConversionError(
                f"converter produced outputs {[v.name for v, _, _ in outputs]}; expected "
                "one float tensor of shape [N, 1]"
            )
        width = floats[0].type.tensor_type.shape.dim[1]
        if width.HasField("dim_value") and width.dim_value != 1:
            raise ConversionError(
                f"converter produced {width.dim_value} values per row; only single-output "
                "regression is supported"
            )
        _claim(graph, floats[0].name, VALUE_OUTPUT)
        contract = [helper.make_tensor_value_info(VALUE_OUTPUT, TensorProto.FLOAT, [BATCH_DIM, 1])]
    del graph.output[:]
    graph.output.extend(contract)
    inputs = graph_inputs(model)
    if len(inputs) == 1 and inputs[0].type.tensor_type.shape.dim:
        batch = inputs[0].type.tensor_type.shape.dim[0]
        if not batch.HasField("dim_value"):
            batch.dim_param = BATCH_DIM


def embed_signature(model: onnx.ModelProto, signature: Signature) -> None:
    """Store ``signature`` as JSON in ``model.metadata_props[SIGNATURE_KEY]`` (replacing one)."""
    for prop in list(model.metadata_props):
        if prop.key == SIGNATURE_KEY:
            model.metadata_props.remove(prop)
    model.metadata_props.append(
        onnx.StringStringEntryProto(key=SIGNATURE_KEY, value=signature.to_json())
    )


def embedded_signature_json(model: onnx.ModelProto) -> str | None:
    """The raw signature JSON stored in the model's metadata, if any."""
    for prop in model.metadata_props:
        if prop.key == SIGNATURE_KEY:
            return prop.value
    return None
