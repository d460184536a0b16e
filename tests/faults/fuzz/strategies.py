"""Hypothesis strategies for hostile galgate messages: floats at and beyond float32's
range, odd unicode, strings up to the message limit, empty and maximal sizes."""

from __future__ import annotations

import math
import struct

import numpy as np
from google.protobuf.message import Message
from hypothesis import strategies as st

from gateway._pb.galgate.v1 import prediction_pb2 as ppb
from gateway._pb.inference import grpc_predict_v2_pb2 as ipb

F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).smallest_subnormal)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MESSAGE_LIMIT = 4 * 1024 * 1024

FINITE_SPECIALS = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e200,
    -1e200,
    1e300,
    -1e300,
    3.4e38,
    -3.4e38,
    F32_MAX,
    -F32_MAX,
    3.5e38,  # finite as a double, beyond float32
    -3.5e38,
    1e39,
    F32_TINY,  # float32 subnormal
    -F32_TINY,
    1e-46,  # rounds to zero in float32
    1.1754942e-38,
    5e-324,  # double subnormal
    2.2250738585072014e-308,
    float(2**53 + 1),
    1.7976931348623157e308,
    -1.7976931348623157e308,
)
NONFINITE = (math.nan, math.inf, -math.inf, -math.nan)

finite_floats = st.one_of(
    st.sampled_from(FINITE_SPECIALS), st.floats(allow_nan=False, allow_infinity=False)
)
hostile_floats = st.one_of(st.sampled_from(FINITE_SPECIALS + NONFINITE), st.floats())
# Ordinary feature values, so that some requests get past validation into the model.
plain_floats = st.floats(-100, 100, allow_nan=False, width=32)
feature_values = st.one_of(plain_floats, hostile_floats)

ODD_CHARS = (
    "\x00",
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u200b",  # zero width space
    "\ufeff",  # byte order mark
    "\u0301",  # combining acute accent
    "\U0001f600",
    "\U0010fffd",
    "\U0001d7d8",
    "\n",
    "\r",
    "\t",
    "\x1b",
    "\x7f",
    "'",
    '"',
    "\\",
    "%",
    "{",
    "}",
    "é",
    "ß",
    ":",
    "/",
    "-",
)
odd_chars = st.one_of(st.sampled_from(ODD_CHARS), st.characters(codec="utf-8"))
odd_text = st.text(alphabet=odd_chars, max_size=24)

# Repeat a short unit to a given length: cheap giant strings.
LONG_SIZES = (257, 1_000, 4_097, 9_000, 15_000, 70_000, 1_000_000)


def long_text(sizes: tuple[int, ...] = LONG_SIZES, ascii_only: bool = False) -> st.SearchStrategy:
    """Strings of the given lengths (in characters), built by repeating a 1-3 char unit."""
    alphabet = st.characters(min_codepoint=32, max_codepoint=126) if ascii_only else odd_chars
    return st.builds(
        lambda unit, n: (unit * (n // len(unit) + 1))[:n],
        st.text(alphabet=alphabet, min_size=1, max_size=3),
        st.sampled_from(sizes),
    )


def near_limit_text(headroom: int = 2048) -> st.SearchStrategy:
    """ASCII strings whose length is within ``headroom`` bytes under the message limit."""
    return st.builds(
        lambda k: "n" * (MESSAGE_LIMIT - k), st.integers(min_value=64, max_value=headroom)
    )


hostile_text = st.one_of(odd_text, long_text())


def with_(base: st.SearchStrategy, *extras: object) -> st.SearchStrategy:
    """``base`` or one of the literal ``extras`` (drawn often)."""
    return st.one_of(st.sampled_from(extras), base) if extras else base


def text_or(*extras: str) -> st.SearchStrategy:
    """A hostile string, or one of ``extras`` (valid names, empty...)."""
    return with_(hostile_text, *extras)


def float32_bytes(values: list[float]) -> bytes:
    """Little-endian float32 encoding; values beyond float32 become +-inf."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float64).astype("<f4").tobytes()


def many_unknown_features(base: dict[str, float]) -> st.SearchStrategy:
    """``base`` plus N invented feature names (400 is the number of the known defect)."""
    return st.builds(
        lambda n, prefix: {**base, **{f"{prefix}unknown_{i:05d}": 0.0 for i in range(n)}},
        st.sampled_from([1, 50, 400, 2_000]),
        st.text(alphabet=odd_chars, max_size=4),
    )


def feature_maps(features: tuple[str, ...]) -> st.SearchStrategy:
    """Named-feature rows: right names with hostile values, missing, unknown and odd names."""
    row = {f: 0.5 for f in features}
    return st.one_of(
        st.fixed_dictionaries({f: feature_values for f in features}),
        st.fixed_dictionaries({}, optional={f: feature_values for f in features}),  # some missing
        st.builds(
            lambda extra, values: {**values, **extra},
            st.dictionaries(text_or(), feature_values, max_size=4),
            st.fixed_dictionaries({f: feature_values for f in features}),
        ),
        many_unknown_features(row),
        st.builds(lambda name: {**row, name: 1.0}, long_text()),
    )


@st.composite
def float_tensors(draw: st.DrawFn, widths: tuple[int, ...] = (6, 3)) -> ppb.FloatTensor:
    """Packed rows: right and wrong widths, rows 0..huge, data/values/both/neither."""
    width = draw(st.sampled_from((*widths, 1, 7, 0)))
    rows = draw(st.one_of(st.integers(0, 3), st.sampled_from([2**31, UINT32_MAX, 100_000])))
    count = rows * width
    if count > 64:  # huge rows with short data
        count = draw(st.integers(0, 64))
    else:
        count = max(0, count + draw(st.sampled_from([0, 0, 0, -1, 1])))
    values = draw(st.lists(feature_values, min_size=count, max_size=count))
    mode = draw(st.sampled_from(["data", "data", "values", "values", "both", "neither", "junk"]))
    tensor = ppb.FloatTensor(rows=rows)
    if mode in ("data", "both"):
        tensor.data = float32_bytes(values)
    if mode in ("values", "both"):
        tensor.values.extend(values)
    if mode == "junk":
        tensor.data = draw(st.binary(max_size=64))
    return tensor


@st.composite
def predict_requests(draw: st.DrawFn, models: tuple[str, ...], features: tuple[str, ...]):
    """A PredictRequest to one of ``models`` (or a junk name) with hostile inputs."""
    request = ppb.PredictRequest(
        model=draw(text_or(*models, *models, "", "nope")),
        routing_key=draw(with_(st.one_of(odd_text, long_text((256, 257, 15_000))), "", "acct-1")),
        version=draw(text_or("", "", "1.0.0", "1.0.1", "9.9.9")),
        request_id=draw(text_or("", "r-1")),
    )
    which = draw(st.sampled_from(["features", "tensor", "tensor", "none"]))
    if which == "features":
        request.features.values.update(draw(feature_maps(features)))
    elif which == "tensor":
        request.tensor.CopyFrom(draw(float_tensors(widths=(len(features),))))
    return request


def good_row(features: tuple[str, ...]) -> st.SearchStrategy:
    """A valid one-row named-feature request body (values finite, within float32)."""
    return st.fixed_dictionaries(
        {f: st.floats(-1e6, 1e6, allow_nan=False, width=32) for f in features}
    )


# --- Open Inference Protocol -------------------------------------------------------

DATATYPES = (
    "FP32",
    "FP32",
    "FP64",
    "INT64",
    "INT32",
    "BYTES",
    "BOOL",
    "FP16",
    "BF16",
    "UINT64",
    "",
    "fp32",
)


@st.composite
def infer_parameters(draw: st.DrawFn) -> ipb.InferParameter:
    kind = draw(st.sampled_from(["bool", "int64", "string", "double", "uint64", "none", "string"]))
    p = ipb.InferParameter()
    if kind == "bool":
        p.bool_param = draw(st.booleans())
    elif kind == "int64":
        p.int64_param = draw(st.integers(INT64_MIN, INT64_MAX))
    elif kind == "string":
        p.string_param = draw(text_or("", "acct-1"))
    elif kind == "double":
        p.double_param = draw(hostile_floats)
    elif kind == "uint64":
        p.uint64_param = draw(st.integers(0, UINT64_MAX))
    return p


def set_parameters(target, parameters: dict[str, ipb.InferParameter]) -> None:
    """Copy parameters into a protobuf map of InferParameter (maps of messages refuse
    assignment)."""
    for key, value in parameters.items():
        target[key].CopyFrom(value)


def parameter_maps(max_size: int = 3) -> st.SearchStrategy:
    keys = text_or("routing_key", "routing_key", "binary_data_size", "classification")
    return st.dictionaries(keys, infer_parameters(), max_size=max_size)


def shapes(width: int) -> st.SearchStrategy:
    dims = st.one_of(
        st.integers(-2, 4), st.sampled_from([INT64_MIN, INT64_MAX, 2**62, 2**31, UINT32_MAX])
    )
    return st.one_of(
        st.builds(lambda rows: [rows, width], dims),
        st.just([width]),
        st.lists(dims, max_size=5),
        st.builds(lambda n: [1] * n, st.sampled_from([1_000, 100_000])),  # many repeated
    )


def _encode(values: list[float], datatype: str) -> bytes:
    if datatype == "FP64":
        return struct.pack(f"<{len(values)}d", *values)
    return float32_bytes(values)


@st.composite
def infer_inputs(draw: st.DrawFn, input_name: str, width: int):
    """One InferInputTensor, and the raw bytes that would go with it (or None)."""
    tensor = ipb.ModelInferRequest.InferInputTensor(
        name=draw(text_or(input_name, input_name, input_name, "")),
        datatype=draw(st.sampled_from(DATATYPES)),
    )
    shape = draw(shapes(width))
    tensor.shape.extend(shape)
    if draw(st.booleans()):
        set_parameters(tensor.parameters, draw(parameter_maps(2)))
    count = 1
    for dim in shape:
        count *= dim
    if not 0 <= count <= 64:
        count = draw(st.integers(0, 64))
    count = max(0, count + draw(st.sampled_from([0, 0, 0, -1, 1])))
    values = draw(st.lists(feature_values, min_size=count, max_size=count))
    where = draw(st.sampled_from(["raw", "raw", "typed", "typed", "both", "other", "none"]))
    raw = None
    if where in ("raw", "both"):
        raw = draw(st.one_of(st.just(_encode(values, tensor.datatype)), st.binary(max_size=64)))
    if where in ("typed", "both"):
        if tensor.datatype == "FP64":
            tensor.contents.fp64_contents.extend(values)
        else:
            tensor.contents.fp32_contents.extend(values)
    if where == "other":
        field = draw(
            st.sampled_from(
                [
                    "int64_contents",
                    "int_contents",
                    "bool_contents",
                    "bytes_contents",
                    "uint64_contents",
                ]
            )
        )
        target = getattr(tensor.contents, field)
        if field == "bytes_contents":
            target.extend(draw(st.lists(st.binary(max_size=8), max_size=4)))
        elif field == "bool_contents":
            target.extend(draw(st.lists(st.booleans(), max_size=8)))
        elif field == "int_contents":
            target.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8)))
        elif field == "uint64_contents":
            target.extend(draw(st.lists(st.integers(0, UINT64_MAX), max_size=8)))
        else:
            target.extend(draw(st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=8)))
    return tensor, raw


@st.composite
def infer_requests(draw: st.DrawFn, models: dict[str, tuple[int, tuple[str, ...]]]):
    """A ModelInferRequest; ``models`` maps a model name to (width, its output names)."""
    name = draw(text_or(*models, *models, "nope", ""))
    width, outputs = models.get(name, (6, ("variable",)))
    request = ipb.ModelInferRequest(
        model_name=name,
        model_version=draw(text_or("", "", "1.0.0", "9.9.9")),
        id=draw(text_or("", "req-1")),
    )
    set_parameters(request.parameters, draw(parameter_maps()))
    n_inputs = draw(st.sampled_from([1, 1, 1, 0, 2]))
    for _ in range(n_inputs):
        tensor, raw = draw(infer_inputs("input", width))
        request.inputs.append(tensor)
        if raw is not None:
            request.raw_input_contents.append(raw)
    if draw(st.integers(0, 9)) == 0:
        request.raw_input_contents.append(draw(st.binary(max_size=32)))
    for output in draw(st.lists(text_or(*outputs, *outputs), max_size=3)):
        requested = request.outputs.add(name=output)
        if draw(st.integers(0, 4)) == 0:
            set_parameters(requested.parameters, draw(parameter_maps(1)))
    return request


# --- short, readable reproductions ---------------------------------------------------


def _show_text(value: str | bytes) -> str:
    if len(value) <= 60:
        return repr(value)
    for k in (1, 2, 3):
        unit = value[:k]
        if unit * (len(value) // k) + unit[: len(value) % k] == value:
            return f"{unit!r} * {len(value) // k}" + (
                f" + {unit[: len(value) % k]!r}" if len(value) % k else ""
            )
    return f"{value[:40]!r}...<{len(value)} {'bytes' if isinstance(value, bytes) else 'chars'}>"


def _show_value(value: object) -> str:
    if isinstance(value, str | bytes):
        return _show_text(value)
    if isinstance(value, Message):
        return describe(value)
    return repr(value)


def _show_items(items: list[str], total: int) -> str:
    shown = ", ".join(items[:6])
    return shown + (f", ...<{total} items>" if total > 6 else "")


def describe(message: Message) -> str:
    """A protobuf message as a short constructor-like expression (long strings, repeated
    fields and maps abbreviated), for Hypothesis' falsifying-example output.

    >>> describe(ppb.PredictRequest(model="x" * 1000, tensor=ppb.FloatTensor(rows=2)))
    "PredictRequest(model='x' * 1000, tensor=FloatTensor(rows=2))"
    """
    parts = []
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            items = [f"{_show_value(k)}: {_show_value(v)}" for k, v in list(value.items())[:6]]
            parts.append(f"{field.name}={{{_show_items(items, len(value))}}}")
        elif field.is_repeated:
            distinct = {repr(v) for v in list(value)[:1000]}
            if len(value) > 6 and len(distinct) == 1:
                parts.append(f"{field.name}=[{_show_value(value[0])}] * {len(value)}")
            else:
                items = [_show_value(v) for v in list(value)[:6]]
                parts.append(f"{field.name}=[{_show_items(items, len(value))}]")
        else:
            parts.append(f"{field.name}={_show_value(value)}")
    return f"{message.DESCRIPTOR.name}({', '.join(parts)})"


def describe_all(messages: list[Message]) -> str:
    """A list of messages (a stream) described, runs of equal messages collapsed.

    >>> describe_all([ppb.PredictRequest(model="a")] * 3 + [ppb.PredictRequest()])
    "[PredictRequest(model='a') x 3, PredictRequest()]"
    """
    runs: list[list] = []
    for text in (describe(m) for m in messages):
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    parts = [text if n == 1 else f"{text} x {n}" for text, n in runs]
    more = f", ...<{len(parts) - 12} more>" if len(parts) > 12 else ""
    return f"[{', '.join(parts[:12])}{more}]"


class Shown:
    """A protobuf message (or a list of them, a stream) whose repr is short and readable
    (``describe``); ``.pb`` is the message or the list."""

    __slots__ = ("pb",)

    def __init__(self, pb: Message | list[Message]) -> None:
        self.pb = pb

    def __repr__(self) -> str:
        return describe_all(self.pb) if isinstance(self.pb, list) else describe(self.pb)


def shown(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy`` with each drawn message wrapped in ``Shown``."""
    return strategy.map(Shown)
