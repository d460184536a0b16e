"""The serving signature of a converted model: features, input, outputs, task, class labels."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from converters.errors import SignatureError
from converters.limits import (
    MAX_CLASSES,
    MAX_DTYPE_CHARS,
    MAX_FEATURES,
    MAX_INT,
    MAX_OUTPUTS,
    MAX_RANK,
    MAX_SIGNATURE_CHARS,
    clip,
    preview,
    too_long,
    too_many,
)

#: metadata_props key under which galgate stores the signature JSON inside an ONNX model.
SIGNATURE_KEY = "galgate.signature"
#: version of the signature document written by ``Signature.to_dict``.
SIGNATURE_FORMAT = 1

TASKS = ("classification", "regression")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One graph output: name, numpy dtype name ("float32", "int64", ...) and shape.

    ``None`` in ``shape`` is a dimension that varies (the batch dimension).

    >>> OutputSpec("variable", "float32", (None, 1)).shape
    (None, 1)
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SignatureError(f"output name must be a non-empty string, got {clip(self.name)}")
        _refuse(too_long("output name", self.name))
        if not isinstance(self.dtype, str) or not self.dtype:
            raise SignatureError(f"output {self.name!r}: dtype must be a string")
        _refuse(too_long(f"output {self.name!r}: dtype", self.dtype, MAX_DTYPE_CHARS))
        try:
            shape = tuple(self.shape)
        except TypeError:
            raise SignatureError(f"output {self.name!r}: shape must be a sequence") from None
        _refuse(too_many(f"dimensions for output {self.name!r}", len(shape), MAX_RANK))
        for dim in shape:
            if dim is not None and (
                isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim <= MAX_INT
            ):
                raise SignatureError(
                    f"output {self.name!r}: dimensions must be non-negative int64 values or None, "
                    f"got {clip(shape)}"
                )
        object.__setattr__(self, "shape", shape)


def _refuse(problem: str | None, prefix: str = "") -> None:
    if problem is not None:
        raise SignatureError(prefix + problem)


def _label(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SignatureError(f"class labels must be ints or strings, got {clip(value)}")
    if isinstance(value, str):
        _refuse(too_long("class label", value))
    elif not -MAX_INT - 1 <= value <= MAX_INT:
        raise SignatureError(f"integer class label {clip(value)} does not fit the int64 output")
    return value


def _repeated(values: Sequence[object]) -> list[object]:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=repr)


@dataclass(frozen=True, slots=True)
class Signature:
    """What a caller must send to a model and what it gets back.

    Classifiers have ``label_output`` (int64 [N]) and ``probability_output``
    (float32 [N, n_classes], columns in ``class_labels`` order). The label output
    holds the class label itself when every class label is an int, and the index
    into ``class_labels`` when the labels are strings (an int64 tensor cannot hold
    a string). Regressors have ``value_output`` (float32 [N, 1]).

    >>> sig = Signature(("a", "b"), "input", (OutputSpec("variable", "float32", (None, 1)),),
    ...                 "regression", (), None, None, "variable")
    >>> sig.n_features
    2
    >>> Signature.from_dict(sig.to_dict()) == sig
    True
    """

    features: tuple[str, ...]
    input_name: str
    outputs: tuple[OutputSpec, ...]
    task: str
    class_labels: tuple[int | str, ...]
    label_output: str | None
    probability_output: str | None
    value_output: str | None

    def __post_init__(self) -> None:
        features = tuple(self.features)
        if not features:
            raise SignatureError("a signature needs at least one feature")
        _refuse(too_many("features", len(features), MAX_FEATURES), "the signature ")
        for name in features:
            if not isinstance(name, str) or not name:
                raise SignatureError(f"feature names must be non-empty strings, got {clip(name)}")
            _refuse(too_long("feature name", name))
        if len(set(features)) != len(features):
            dupes = preview(_repeated(features))
            raise SignatureError(f"feature names must be unique; repeated: {dupes}")
        if not isinstance(self.input_name, str) or not self.input_name:
            raise SignatureError("input_name must be a non-empty string")
        _refuse(too_long("input name", self.input_name))
        outputs = tuple(self.outputs)
        if not outputs or not all(isinstance(o, OutputSpec) for o in outputs):
            raise SignatureError("outputs must be a non-empty sequence of OutputSpec")
        _refuse(too_many("outputs", len(outputs), MAX_OUTPUTS), "the signature ")
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise SignatureError(f"output names must be unique, got {preview(names)}")
        raw_labels = tuple(self.class_labels)
        _refuse(too_many("class labels", len(raw_labels), MAX_CLASSES), "the signature ")
        labels = tuple(_label(v) for v in raw_labels)
        if len(set(labels)) != len(labels):
            dupes = preview(_repeated(labels))
            raise SignatureError(f"class labels must be unique; repeated: {dupes}")
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "class_labels", labels)
        self._check_task(names)
        size = len(self.to_json())
        if size > MAX_SIGNATURE_CHARS:
            raise SignatureError(
                f"the signature is {size} characters of JSON; at most {MAX_SIGNATURE_CHARS} "
                "are allowed (shorten the feature names or class labels)"
            )

    def _check_task(self, names: list[str]) -> None:
        if self.task == "classification":
            required = {
                "label_output": self.label_output,
                "probability_output": self.probability_output,
            }
            if self.value_output is not None:
                raise SignatureError("a classification signature has no value_output")
            if not self.class_labels:
                raise SignatureError("a classification signature needs class_labels")
        elif self.task == "regression":
            required = {"value_output": self.value_output}
            if self.label_output is not None or self.probability_output is not None:
                raise SignatureError("a regression signature has no label/probability output")
            if self.class_labels:
                raise SignatureError("a regression signature has no class_labels")
        else:
            raise SignatureError(f"task must be one of {list(TASKS)}, got {clip(self.task)}")
        for field, name in required.items():
            if name not in names:
                raise SignatureError(
                    f"{field} {clip(name)} of a {self.task} signature must name one of the "
                    f"outputs {names}"
                )
        if self.task == "classification":
            self._check_columns()

    def _check_columns(self) -> None:
        proba = next(o for o in self.outputs if o.name == self.probability_output)
        columns = proba.shape[1] if len(proba.shape) == 2 else None
        if columns is not None and columns != len(self.class_labels):
            raise SignatureError(
                f"probability output {proba.name!r} has {columns} columns but the signature "
                f"has {len(self.class_labels)} class labels; expected one label per column"
            )

    @property
    def n_features(self) -> int:
        """Width of the input tensor."""
        return len(self.features)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe document (lists, strings, ints, None) that ``from_dict`` reads back."""
        return {
            "format": SIGNATURE_FORMAT,
            "features": list(self.features),
            "input_name": self.input_name,
            "outputs": [
                {"name": o.name, "dtype": o.dtype, "shape": list(o.shape)} for o in self.outputs
            ],
            "task": self.task,
            "class_labels": list(self.class_labels),
            "label_output": self.label_output,
            "probability_output": self.probability_output,
            "value_output": self.value_output,
        }

    def to_json(self) -> str:
        """``to_dict`` as compact, key-sorted JSON (what goes into ONNX metadata)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        """Rebuild a signature from ``to_dict`` output; raises SignatureError when malformed."""
        if not isinstance(d, Mapping):
            raise SignatureError(f"a signature document must be a mapping, got {type(d).__name__}")
        fmt = d.get("format", SIGNATURE_FORMAT)
        if fmt != SIGNATURE_FORMAT:
            raise SignatureError(
                f"signature format {fmt!r} is not supported (expected {SIGNATURE_FORMAT})"
            )
        try:
            outputs = tuple(
                OutputSpec(str(o["name"]), str(o["dtype"]), tuple(o["shape"]))
                for o in _sequence(d["outputs"], "outputs")
            )
            return cls(
                features=tuple(_sequence(d["features"], "features")),
                input_name=d["input_name"],
                outputs=outputs,
                task=d["task"],
                class_labels=tuple(_sequence(d.get("class_labels", ()), "class_labels")),
                label_output=d.get("label_output"),
                probability_output=d.get("probability_output"),
                value_output=d.get("value_output"),
            )
        except KeyError as exc:
            raise SignatureError(f"signature document lacks the key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SignatureError(f"malformed signature document: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Signature:
        """Parse ``to_json`` output; raises SignatureError on bad JSON or a bad document."""
        if len(text) > MAX_SIGNATURE_CHARS:
            raise SignatureError(
                f"signature JSON is {len(text)} characters long; at most "
                f"{MAX_SIGNATURE_CHARS} are allowed"
            )
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SignatureError(f"signature is not valid JSON: {exc}") from None
        except RecursionError:  # hostile metadata: "[[[[..." deeper than the parser's stack
            raise SignatureError("signature JSON is nested too deeply to be a signature") from None
        return cls.from_dict(document)


def _sequence(value: object, key: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SignatureError(f"signature key {key!r} must be a list, got {type(value).__name__}")
    return value
