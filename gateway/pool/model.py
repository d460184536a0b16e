"""One loaded, warmed model version: an onnxruntime session plus what decoding needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converters import Signature


@dataclass(frozen=True, slots=True)
class Outputs:
    """A session run's results, in the gateway's terms (arrays are per row)."""

    labels: np.ndarray | None  # int64 index into class_labels
    probabilities: np.ndarray | None  # float32 [rows, n_classes]
    values: np.ndarray | None  # float64 [rows]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A version ready to serve. Immutable; shared by every snapshot that routes to it."""

    name: str
    version: str
    sha256: str
    signature: Signature
    session: object  # onnxruntime.InferenceSession
    feature_index: dict[str, int]
    class_labels: tuple[str, ...]
    _sorted_labels: np.ndarray | None
    _output_names: tuple[str, ...]
    # Latency/rows counters (gateway.metrics.VersionStats), bound when the pool adopts it.
    stats: object | None = None

    @classmethod
    def build(cls, name: str, version: str, sha256: str, signature: Signature, session: object):
        """Bind a session to its signature and precompute per-request lookups."""
        if signature.task == "classification":
            outputs = (signature.label_output, signature.probability_output)
            # String classes: the converters emit the class index as the label already.
            # Integer classes other than 0..C-1: map each label to its (sorted) column.
            labels = np.asarray(signature.class_labels)
            identity = labels.dtype.kind not in "iu" or np.array_equal(
                labels, np.arange(len(labels))
            )
            sorted_labels = None if identity else np.sort(labels)
        else:
            outputs = (signature.value_output,)
            sorted_labels = None
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
        )

    def run(self, x: np.ndarray) -> Outputs:
        """Run the session on a float32 [rows, n_features] array."""
        result = self.session.run(self._output_names, {self.signature.input_name: x})
        if self.signature.task == "classification":
            raw = np.asarray(result[0]).reshape(-1)
            if self._sorted_labels is None:
                labels = raw.astype(np.int64, copy=False)
            else:
                labels = np.searchsorted(self._sorted_labels, raw).astype(np.int64)
            return Outputs(labels=labels, probabilities=result[1], values=None)
        return Outputs(labels=None, probabilities=None, values=np.asarray(result[0]).reshape(-1))

    def warm(self, rows: int = 4) -> None:
        """Run a few rows so the first real request does not pay for lazy initialisation."""
        for n in (1, rows):
            self.run(np.zeros((n, self.signature.n_features), dtype=np.float32))
