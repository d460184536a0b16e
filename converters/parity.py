"""Compare an ONNX model's outputs with the original estimator's on sample rows."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from converters.errors import DataError, ParityError, ParityMismatch
from converters.signature import Signature
from converters.validate import load_session

WORST_ROWS = 5
#: a label flip between classes whose original probabilities differ by at most this is a
#: tie (e.g. 5 of 10 trees each way), not a disagreement; float32 rounding is ~1e-7.
TIE_GAP = 1e-6


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far the ONNX model may drift from the original estimator, as explicit numbers.

    A regression row passes when ``|onnx - expected| <= value_atol + value_rtol * S``,
    where ``S`` is the largest ``|expected|`` in the parity sample. Float32 rounding in a
    sum of trees (or of linear terms) scales with the size of the terms, not with the
    possibly cancelled result, so a per-row relative test would fail rows near zero.
    Probabilities pass when every ``|onnx - expected| <= proba_atol``. Labels must agree
    on at least ``min_label_agreement`` of the rows; a row where the original gives the
    ONNX label's class a probability within ``TIE_GAP`` (1e-6) of its top class is a tie
    and counts as agreeing.

    The original model sees the caller's rows as given, onnxruntime their float32 cast
    (see ``check_parity``). The same tolerances hold for every estimator family; what
    differs is whether the cast can change anything the family uses:

    - scikit-learn trees and forests (GradientBoosting* included) and XGBoost cast X to
      float32 themselves, when fitting and when predicting: they never see the digits
      the cast drops, so float64 rows compare as their float32 cast does.
    - linear models, scalers, LightGBM and HistGradientBoosting* compute on float64.
      Where a feature needs more than float32's ~7 significant digits (a price level of
      1e12 plus cents; a split between two values float32 cannot tell apart), the served
      model answers differently and the check refuses it, naming the worst rows.
      Remedies: take the level out before the model (returns, differences, a scaler
      fitted upstream), or accept the measured difference with an explicit Tolerance.
      LightGBM's converter also rounds split thresholds to the nearest float32, so even
      float32 rows lying within one float32 step above a threshold can take the other
      branch; the check reports those rows too (rare: where two training values of a
      feature are that close).

    Measured with onnxruntime 1.32, opset 15 (sklearn 1.9, xgboost 3.2, lightgbm 4.7;
    400-2000 rows, 8-20 features, 10-300 trees), on float32 rows and on float64 rows
    without an offset:

    - probabilities: max |diff| 2.4e-6 (LGBMClassifier, 3 classes, 300 trees), at most
      4.2e-7 for every other classifier; labels agreed on every row.
    - regression: max |diff| 5.5e-4 on outputs up to 800 (XGBRegressor, 300 trees), i.e.
      7e-7 of S; 1.2e-4 (1.5e-7 of S) for LinearRegression and Ridge pipelines. Relative
      to the row's own value the same diffs reach 2e-3 near zero.
    - one exception: an LGBMRegressor of 300 trees on 2000 rows of 20 features had one
      row 21 off (1.2% of S), on float64 and float32 rows alike: the threshold rounding
      above (two values of a feature 1.1e-7 apart, split between them).

    The defaults leave a margin of 4x (probabilities) and >100x (values) over those.
    Deep ensembles on large-valued targets or linear models on raw, large features
    (prices) may need a looser ``value_rtol``; say so explicitly when converting.
    """

    value_atol: float = 1e-4
    value_rtol: float = 1e-4
    proba_atol: float = 1e-5
    min_label_agreement: float = 1.0

    def __post_init__(self) -> None:
        for name in ("value_atol", "value_rtol", "proba_atol"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ValueError(f"Tolerance.{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.min_label_agreement <= 1.0:
            raise ValueError(
                f"Tolerance.min_label_agreement must be in [0, 1], got {self.min_label_agreement!r}"
            )


@dataclass(frozen=True, slots=True)
class ParityReport:
    """Outcome of a parity check over ``rows`` rows.

    ``max_value_diff`` is 0.0 for classifiers; ``max_proba_diff`` is 0.0 and
    ``label_agreement`` 1.0 for regressors.
    """

    rows: int
    max_value_diff: float
    max_proba_diff: float
    label_agreement: float
    passed: bool


def as_matrix(sample: object, n_features: int) -> np.ndarray:
    """``sample`` as a C-contiguous [rows, n_features] float array of the caller's precision.

    A float array keeps its dtype (float64 stays float64); integers, booleans and numeric
    objects become float64. DataError when the sample is not numeric or of the wrong shape.

    >>> as_matrix([[1, 2]], 2).dtype, as_matrix(np.ones((1, 2), np.float32), 2).dtype
    (dtype('float64'), dtype('float32'))
    """
    try:
        X = np.asarray(sample)
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"sample is not numeric: {exc}") from None
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(f"sample has shape {list(X.shape)}; expected [rows, {n_features}]")
    if X.shape[0] == 0:
        raise DataError("sample has no rows; parity needs at least one")
    return np.ascontiguousarray(X)


def _predict(model: object, method: str, X: np.ndarray) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # ONNX inputs are positional; a model fitted on a DataFrame warns about bare arrays
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return np.asarray(getattr(model, method)(X))
    except Exception as exc:  # the estimator's own failure (e.g. NaN it cannot handle)
        raise DataError(
            f"the original model's {method} failed on the parity sample: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _plain(value: object) -> int | float | str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int | float | str) else str(value)


def _abs_diff(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| with NaN == NaN as 0 and NaN vs a number as inf."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - expected)
    both = np.isnan(got) & np.isnan(expected)
    return np.where(both, 0.0, np.where(np.isnan(diff), np.inf, diff))


def _decode(raw: np.ndarray, labels: Sequence[int | str]) -> list[int | float | str]:
    if all(isinstance(label, int) for label in labels):
        return [_plain(v) for v in raw.tolist()]
    n = len(labels)
    return [labels[i] if 0 <= i < n else f"<index {i}>" for i in raw.astype(np.int64).tolist()]


def _outputs(session: object, signature: Signature, X: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
    try:
        results = session.run(names, {signature.input_name: X})  # type: ignore[attr-defined]
    except Exception as exc:  # onnxruntime's own exception types
        raise ParityError(f"onnxruntime failed on the parity sample: {exc}") from exc
    return dict(zip(names, results, strict=True))


def check_parity(
    model: object,
    onnx_bytes: bytes,
    signature: Signature,
    sample: np.ndarray,
    tolerance: Tolerance = Tolerance(),
) -> ParityReport:
    """Compare the original model on ``sample`` with the ONNX model on what it will be served.

    The original model predicts on ``sample`` as given (float64 stays float64); onnxruntime
    runs on ``sample`` cast to float32, the only input the gateway serves. A model that
    needs more precision than float32 carries (a price of 1e12 plus cents, say) therefore
    fails here instead of answering differently in production.

    Args:
        model: the fitted estimator (``predict``, and ``predict_proba`` for classifiers).
        onnx_bytes: the converted model.
        signature: its signature.
        sample: rows to compare on, [rows, n_features], in the caller's own precision:
            do not cast it to float32 first, or precision loss cannot be seen.
        tolerance: explicit limits, see ``Tolerance``.

    Returns:
        The report (``passed`` True).

    Raises:
        ParityError: beyond tolerance; the message lists the worst rows.
        DataError: the sample is unusable or the original model fails on it.
    """
    X = as_matrix(sample, signature.n_features)
    served = X.astype(np.float32)  # what the gateway's float32 input tensor holds
    outputs = _outputs(load_session(onnx_bytes), signature, served)
    if signature.task == "classification":
        return _classifier(model, signature, outputs, X, tolerance)
    return _regressor(model, signature, outputs, X, tolerance)


def _precision_note(X: np.ndarray) -> str:
    if X.dtype == np.float32:
        return ""
    return (
        f"; the original model ran on the {X.dtype} rows, ONNX on their float32 cast (what "
        "the gateway serves): features that need more precision than float32 holds, such "
        "as a large offset, lose it in serving"
    )


def _classifier(
    model: object, sig: Signature, outputs: dict[str, np.ndarray], X: np.ndarray, tol: Tolerance
) -> ParityReport:
    rows = X.shape[0]
    expected_proba = _predict(model, "predict_proba", X).astype(np.float64)
    expected = [_plain(v) for v in _predict(model, "predict", X).reshape(-1).tolist()]
    got_proba = np.asarray(outputs[sig.probability_output], dtype=np.float64)
    raw = np.asarray(outputs[sig.label_output]).reshape(-1)
    if got_proba.shape != expected_proba.shape or raw.shape[0] != rows or len(expected) != rows:
        raise ParityError(
            f"ONNX probabilities have shape {list(got_proba.shape)} and {raw.shape[0]} labels; "
            f"the model gives {list(expected_proba.shape)} and {len(expected)} for {rows} rows"
        )
    got = _decode(raw, sig.class_labels)
    row_diff = _abs_diff(got_proba, expected_proba).max(axis=1)
    index = {label: i for i, label in enumerate(sig.class_labels)}
    agree = np.empty(rows, dtype=bool)
    for r in range(rows):
        if got[r] == expected[r]:
            agree[r] = True
        else:  # a tie in the original probabilities may go either way
            i = index.get(got[r])  # type: ignore[arg-type]
            top = expected_proba[r].max()
            agree[r] = i is not None and expected_proba[r, i] >= top - TIE_GAP
    max_proba = float(row_diff.max())
    agreement = float(agree.mean())
    passed = max_proba <= tol.proba_atol and agreement >= tol.min_label_agreement
    report = ParityReport(rows, 0.0, max_proba, agreement, passed)
    if passed:
        return report
    bad = np.flatnonzero(~agree | (row_diff > tol.proba_atol))
    order = sorted(bad.tolist(), key=lambda r: (bool(agree[r]), -row_diff[r]))[:WORST_ROWS]
    worst = [
        ParityMismatch(
            r, expected[r], got[r], float(row_diff[r]),
            tuple(float(p) for p in expected_proba[r]), tuple(float(p) for p in got_proba[r]),
        )
        for r in order
    ]  # fmt: skip
    raise ParityError(
        f"ONNX classifier differs from the original model on {bad.size} of {rows} rows: label "
        f"agreement {agreement:.4f} (required {tol.min_label_agreement}), max probability diff "
        f"{max_proba:.3g} (proba_atol {tol.proba_atol}){_precision_note(X)}",
        worst,
        report,
    )


def _regressor(
    model: object, sig: Signature, outputs: dict[str, np.ndarray], X: np.ndarray, tol: Tolerance
) -> ParityReport:
    rows = X.shape[0]
    expected = _predict(model, "predict", X).astype(np.float64).reshape(-1)
    got = np.asarray(outputs[sig.value_output], dtype=np.float64).reshape(-1)
    if got.shape[0] != rows or expected.shape[0] != rows:
        raise ParityError(
            f"ONNX gives {got.shape[0]} values and the model {expected.shape[0]} for {rows} "
            "rows; expected one value per row"
        )
    diff = _abs_diff(got, expected)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = float(finite.max()) if finite.size else 0.0
    limit = tol.value_atol + tol.value_rtol * scale
    max_diff = float(diff.max())
    passed = max_diff <= limit
    report = ParityReport(rows, max_diff, 0.0, 1.0, passed)
    if passed:
        return report
    bad = np.flatnonzero(diff > limit)
    order = bad[np.argsort(-diff[bad], kind="stable")][:WORST_ROWS].tolist()
    worst = [ParityMismatch(r, float(expected[r]), float(got[r]), float(diff[r])) for r in order]
    raise ParityError(
        f"ONNX regressor differs from the original model on {bad.size} of {rows} rows: max diff "
        f"{max_diff:.6g} > {limit:.6g} (value_atol {tol.value_atol} + value_rtol "
        f"{tol.value_rtol} x max|expected| {scale:.6g}){_precision_note(X)}",
        worst,
        report,
    )
