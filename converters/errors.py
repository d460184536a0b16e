"""The converters' error hierarchy; messages say what was wrong and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from converters.parity import ParityReport


class ConversionError(Exception):
    """Root of every error the converters package raises."""


class UnsupportedModelError(ConversionError):
    """No converter is registered for the estimator's type (or the converter refused it)."""

    def __init__(self, model_type: str, supported: Sequence[str], detail: str = "") -> None:
        self.model_type = model_type
        self.supported = tuple(supported)
        reason = f": {detail}" if detail else ""
        super().__init__(
            f"cannot convert {model_type}{reason}; supported estimator types are "
            f"{', '.join(self.supported) or '(none)'}"
        )


class DuplicateConverterError(ConversionError):
    """A converter is already registered for the type and ``overwrite`` was not set."""

    def __init__(self, model_type: str) -> None:
        self.model_type = model_type
        super().__init__(
            f"a converter for {model_type} is already registered; pass overwrite=True to replace it"
        )


class InvalidOnnxError(ConversionError):
    """ONNX bytes that must not be registered or served: garbage, external data, too big,
    failing the checker or onnxruntime, or not of the expected signature."""


class SignatureError(ConversionError):
    """A signature document is malformed or inconsistent."""


class DataError(ConversionError):
    """Input data (a table file, a parity sample, feature names, profile bytes) is unusable."""


@dataclass(frozen=True, slots=True)
class ParityMismatch:
    """One row on which the ONNX model and the original estimator disagree.

    ``expected``/``got`` are the label (classifiers) or the value (regressors);
    ``expected_proba``/``got_proba`` are the class probabilities for classifiers.
    ``diff`` is the largest absolute numeric difference on the row.
    """

    index: int
    expected: int | float | str
    got: int | float | str
    diff: float
    expected_proba: tuple[float, ...] | None = None
    got_proba: tuple[float, ...] | None = None

    def describe(self) -> str:
        """One line for error messages, e.g. ``row 3: expected 1.5, got 2.0 (diff 0.5)``."""
        text = f"row {self.index}: expected {self.expected!r}, got {self.got!r}"
        if self.expected_proba is not None and self.got_proba is not None:
            exp = ", ".join(f"{p:.6g}" for p in self.expected_proba)
            got = ", ".join(f"{p:.6g}" for p in self.got_proba)
            text += f" (probabilities expected [{exp}], got [{got}])"
        return f"{text} (diff {self.diff:.6g})"


class ParityError(ConversionError):
    """The ONNX model's outputs differ from the original estimator's beyond tolerance.

    ``worst_rows`` holds up to a handful of the worst offending rows; ``report`` is the
    parity report (``passed`` False) when the comparison could be made at all.
    """

    def __init__(
        self,
        message: str,
        worst_rows: Sequence[ParityMismatch] = (),
        report: ParityReport | None = None,
    ) -> None:
        self.worst_rows = tuple(worst_rows)
        self.report = report
        if self.worst_rows:
            message += "; worst rows: " + "; ".join(row.describe() for row in self.worst_rows)
        super().__init__(message)
