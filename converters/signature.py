"""The serving signature of a converted model: features, input, outputs, task, class labels."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from converters.errors import SignatureError

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
            raise SignatureError(f"output name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.dtype, str) or not self.dtype:
            raise SignatureError(f"output {self.name!r}: dtype must be a string")
        try:
            shape = tuple(self.shape)
        except TypeError:
            raise SignatureError(f"output {self.name!r}: shape must be a sequence") from None
        for dim in shape:
            if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 0):
                raise SignatureError(
                    f"output {self.name!r}: dimensions must be non-negative ints or None, "
                    f"got {shape!r}"
                )
        object.__setattr__(self, "shape", shape)


def _label(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SignatureError(f"class labels must be ints or strings, got {value!r}")
    return value


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
        for name in features:
            if not isinstance(name, str) or not name:
                raise SignatureError(f"feature names must be non-empty strings, got {name!r}")
        if len(set(features)) != len(features):
            dupes = sorted({f for f in features if features.count(f) > 1})
            raise SignatureError(f"feature names must be unique; repeated: {dupes}")
        if not isinstance(self.input_name, str) or not self.input_name:
            raise SignatureError("input_name must be a non-empty string")
        outputs = tuple(self.outputs)
        if not outputs or not all(isinstance(o, OutputSpec) for o in outputs):
            raise SignatureError("outputs must be a non-empty sequence of OutputSpec")
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise SignatureError(f"output names must be unique, got {names}")
        labels = tuple(_label(v) for v in self.class_labels)
        if len(set(labels)) != len(labels):
            raise SignatureError(f"class labels must be unique, got {list(labels)}")
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "class_labels", labels)
        self._check_task(names)

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
            raise SignatureError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        for field, name in required.items():
            if name not in names:
                raise SignatureError(
                    f"{field} {name!r} of a {self.task} signature must name one of the "
                    f"outputs {names}"
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
