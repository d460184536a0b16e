"""What a served version has seen lately: its inputs, its outcome errors, and a change
detector on those errors. One per loaded version; Predict and RecordOutcome feed it."""

from __future__ import annotations

from gateway.drift.page_hinkley import PageHinkley
from gateway.drift.window import ErrorWindow, InputWindow


class LiveWindows:
    """A version's live windows.

    Args:
        n_features: the version's input width.
        classifier: True for classifiers: an outcome's error is 0 when the prediction
            equals it and 1 otherwise; for regressors it is ``|predicted - value|``.
        rows: inputs kept (the newest ``rows`` rows).
        outcomes: outcome errors kept.

    The concept-drift detector (Page-Hinkley, river's defaults) runs on every error as it
    arrives; ``changes`` counts what it detected since the version was loaded.

    >>> import numpy as np
    >>> live = LiveWindows(2, classifier=True, rows=4, outcomes=4)
    >>> live.inputs.add(np.ones((3, 2), dtype=np.float32))
    >>> live.observe(1.0, 1.0), live.observe(1.0, 2.0)
    (0.0, 1.0)
    >>> live.inputs.size, live.errors.values().tolist()
    (3, [0.0, 1.0])
    """

    __slots__ = ("changes", "classifier", "detector", "errors", "inputs")

    def __init__(
        self, n_features: int, *, classifier: bool, rows: int = 4096, outcomes: int = 4096
    ) -> None:
        self.classifier = classifier
        self.inputs = InputWindow(n_features, rows)
        self.errors = ErrorWindow(outcomes)
        self.detector = PageHinkley()
        self.changes = 0

    def observe(self, predicted: float, value: float) -> float:
        """Add one outcome's error; returns it."""
        error = float(predicted != value) if self.classifier else abs(predicted - value)
        self.errors.append(error)
        if self.detector.update(error):
            self.changes += 1
        return error
