"""One loaded, warmed model version: an onnxruntime session plus what decoding needs.

A model is untrusted: every run's outputs are checked against the signature (row count,
labels within the classes, finite numbers) before anything is sent or logged, and a
version is probed with several rows before it can go live.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from converters import Signature
from gateway.errors import ModelOutputError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

    from gateway.drift.live import LiveWindows
    from gateway.prometheus import VersionStats

# A version whose one-row run takes longer than this (measured at warm-up) is run in a
# thread, so it never holds the event loop.
SLOW_RUN_SECONDS = 0.002
_PROBE_SCALES = (1.0, 10.0, 1000.0)


@dataclass(frozen=True, slots=True)
class Outputs:
    """A session run's results, in the gateway's terms (arrays are per row)."""

    labels: np.ndarray | None  # int64 index into class_labels
    probabilities: np.ndarray | None  # float32 [rows, n_classes]
    values: np.ndarray | None  # float64 [rows]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, datatype (Open Inference Protocol names: FP32, INT64) and shape (-1: any) of
    one model input or output."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A version ready to serve. Immutable; shared by every snapshot that routes to it."""

    name: str
    version: str
    sha256: str
    signature: Signature
    session: InferenceSession
    feature_index: dict[str, int]
    class_labels: tuple[str, ...]
    _sorted_labels: np.ndarray | None
    _output_names: tuple[str, ...]
    # The tensors a client sees, built once at load: the input, the outputs in the order
    # they are returned, and for integer classes the label of each class index (a label
    # output carries the class index otherwise).
    input_spec: TensorSpec
    output_specs: tuple[TensorSpec, ...]
    label_values: np.ndarray | None
    # Latency/rows counters (gateway.prometheus.VersionStats), bound when the pool adopts it.
    stats: VersionStats | None = None
    # Recent inputs and outcome errors for drift checks, bound when the pool adopts it
    # (None when drift monitoring is off).
    live: LiveWindows | None = None
    # Set by warm(): the one-row run is slow enough to belong in a thread.
    slow: bool = False

    @classmethod
    def build(cls, name: str, version: str, sha256: str, signature: Signature, session: object):
        """Bind a session to its signature and precompute per-request lookups."""
        label_values = None
        if signature.task == "classification":
            outputs = (signature.label_output, signature.probability_output)
            # String classes: the converters emit the class index as the label already.
            # Integer classes other than 0..C-1: map each label to its (sorted) column.
            labels = np.asarray(signature.class_labels)
            identity = labels.dtype.kind not in "iu" or np.array_equal(
                labels, np.arange(len(labels))
            )
            sorted_labels = None if identity else np.sort(labels)
            if all(isinstance(label, int) for label in signature.class_labels):
                label_values = np.asarray(sorted(signature.class_labels), dtype="<i8")
            specs = (
                TensorSpec(signature.label_output, "INT64", (-1,)),
                TensorSpec(signature.probability_output, "FP32", (-1, len(labels))),
            )
        else:
            outputs = (signature.value_output,)
            sorted_labels = None
            specs = (TensorSpec(signature.value_output, "FP32", (-1, 1)),)
        return cls(
            name=name,
            version=version,
            sha256=sha256,
            signature=signature,
            session=session,
            feature_index={f: i for i, f in enumerate(signature.features)},
            class_labels=tuple(str(label) for label in signature.class_labels),
            _sorted_labels=sorted_labels,
            _output_names=outputs,
            input_spec=TensorSpec(signature.input_name, "FP32", (-1, signature.n_features)),
            output_specs=specs,
            label_values=label_values,
        )

    def _refuse(self, reason: str) -> ModelOutputError:
        return ModelOutputError(self.name, self.version, reason)

    def run(self, x: np.ndarray) -> Outputs:
        """Run the session on a float32 [rows, n_features] array and check what it gave.

        Raises:
            ModelOutputError: the session failed, or its outputs break the signature.
        """
        rows = x.shape[0]
        try:
            result = self.session.run(self._output_names, {self.signature.input_name: x})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise self._refuse(f"the model failed to run ({type(exc).__name__})") from exc
        if self.signature.task == "classification":
            return self._classes(rows, np.asarray(result[0]).reshape(-1), np.asarray(result[1]))
        values = np.asarray(result[0]).reshape(-1)
        if values.shape[0] != rows:
            raise self._refuse(f"{values.shape[0]} values for {rows} rows")
        if not _finite(values, rows):
            raise self._refuse("a value is NaN or infinite")
        return Outputs(labels=None, probabilities=None, values=values)

    def _classes(self, rows: int, raw: np.ndarray, probabilities: np.ndarray) -> Outputs:
        n_classes = len(self.class_labels)
        if raw.shape[0] != rows or probabilities.shape != (rows, n_classes):
            raise self._refuse(
                f"{raw.shape[0]} labels and probabilities of shape {probabilities.shape} for "
                f"{rows} rows of {n_classes} classes"
            )
        if self._sorted_labels is None:
            labels = raw.astype(np.int64, copy=False)
            valid = _within(labels, rows, n_classes)
        else:
            labels = np.searchsorted(self._sorted_labels, raw).astype(np.int64)
            valid = _within(labels, rows, n_classes) and bool(
                (self._sorted_labels[labels] == raw).all()
            )
        if not valid:
            raise self._refuse(f"a label is not one of its {n_classes} classes")
        if not _finite(probabilities, rows):
            raise self._refuse("a probability is NaN or infinite")
        return Outputs(labels=labels, probabilities=probabilities, values=None)

    def warm(self) -> LoadedModel:
        """Probe the version before it can serve; returns it with ``slow`` measured.

        One row warms the path most requests take (the first real request does not pay
        for lazy initialisation); a probe of several rows (zeros, ones, seeded noise at
        several scales) checks the row count, labels and numbers a broken or hostile
        model would get wrong.

        Raises:
            ModelOutputError: the version fails the probe; it must never go live.
        """
        n = self.signature.n_features
        one = np.zeros((1, n), dtype=np.float32)
        self.run(one)
        started = time.perf_counter()
        self.run(one)
        elapsed = time.perf_counter() - started
        rng = np.random.default_rng(0)
        probe = [np.zeros(n), np.ones(n), -np.ones(n)]
        probe += [rng.standard_normal(n) * scale for scale in _PROBE_SCALES]
        outputs = self.run(np.asarray(probe, dtype=np.float32))
        numbers = outputs.values if outputs.values is not None else outputs.probabilities
        if numbers.dtype.kind != "f":
            raise self._refuse(f"its numeric output has dtype {numbers.dtype}, not a float")
        return dataclasses.replace(self, slow=elapsed > SLOW_RUN_SECONDS)


def _within(labels: np.ndarray, rows: int, n_classes: int) -> bool:
    if rows == 1:  # the common case, without numpy reductions
        return 0 <= int(labels[0]) < n_classes
    return bool((labels >= 0).all() and (labels < n_classes).all())


def _finite(numbers: np.ndarray, rows: int) -> bool:
    if rows == 1:
        return math.isfinite(sum(numbers.reshape(-1).tolist()))
    return bool(np.isfinite(numbers).all())
