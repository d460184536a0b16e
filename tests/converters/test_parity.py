"""Parity checks catch conversions that do not reproduce the original estimator."""

from __future__ import annotations

import lightgbm
import numpy as np
import onnx
import pytest
import xgboost
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from converters import (
    DataError,
    ParityError,
    ParityMismatch,
    Tolerance,
    check_parity,
    convert,
    register_converter,
    unregister_converter,
)
from converters.sklearn import convert_sklearn_model
from tests.converters.conftest import make_data


def _tamper_linear_coefficients(onnx_bytes: bytes, factor: float) -> bytes:
    """Scale the float coefficients of the model's linear operator, as a corrupt file would."""
    model = onnx.load_from_string(onnx_bytes)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name == "coefficients":
                attr.floats[:] = [v * factor for v in attr.floats]
                return model.SerializeToString()
    raise AssertionError("no coefficients attribute found")


def test_check_parity_against_different_model_raises_with_worst_rows(binary_data) -> None:
    X, y = binary_data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    other = RandomForestClassifier(n_estimators=10, random_state=1).fit(X, 1 - y)
    conversion = convert(model, X)
    with pytest.raises(ParityError) as err:
        check_parity(other, conversion.onnx_bytes, conversion.signature, X, Tolerance())
    message = str(err.value)
    assert "worst rows" in message
    assert err.value.worst_rows
    first = err.value.worst_rows[0]
    assert f"row {first.index}: expected {first.expected!r}, got {first.got!r}" in message
    assert first.expected == int(other.predict(X[first.index : first.index + 1])[0])
    assert first.got != first.expected
    assert err.value.report is not None and not err.value.report.passed
    assert err.value.report.label_agreement < 0.5


def test_check_parity_tampered_regression_coefficients_raise_worst_rows_first(
    regression_data,
) -> None:
    X, y = regression_data
    model = LinearRegression().fit(X, y)
    conversion = convert(model, X)
    tampered = _tamper_linear_coefficients(conversion.onnx_bytes, 1.01)
    with pytest.raises(ParityError) as err:
        check_parity(model, tampered, conversion.signature, X, Tolerance())
    rows = err.value.worst_rows
    assert 1 <= len(rows) <= 5
    diffs = [row.diff for row in rows]
    assert diffs == sorted(diffs, reverse=True)
    expected = model.predict(X)
    assert rows[0].expected == pytest.approx(expected[rows[0].index])
    assert abs(rows[0].got - rows[0].expected) == pytest.approx(rows[0].diff)
    assert "value_atol" in str(err.value) and f"row {rows[0].index}" in str(err.value)


def test_check_parity_explicit_loose_tolerance_accepts_partial_agreement(binary_data) -> None:
    X, y = binary_data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    other = RandomForestClassifier(n_estimators=10, random_state=1).fit(X, y)
    conversion = convert(model, X)
    loose = Tolerance(proba_atol=1.0, min_label_agreement=0.5)
    report = check_parity(other, conversion.onnx_bytes, conversion.signature, X, loose)
    assert report.passed
    assert 0.5 <= report.label_agreement < 1.0


def test_check_parity_class_count_mismatch_raises(binary_data, multiclass_data) -> None:
    X, y = binary_data
    Xm, ym = multiclass_data
    conversion = convert(LogisticRegression().fit(X, y), X)
    three_classes = LogisticRegression().fit(Xm, ym)
    with pytest.raises(ParityError, match="shape"):
        check_parity(three_classes, conversion.onnx_bytes, conversion.signature, X, Tolerance())


def test_check_parity_sample_of_wrong_width_raises_data_error(regression_data) -> None:
    X, y = regression_data
    model = LinearRegression().fit(X, y)
    conversion = convert(model, X)
    with pytest.raises(DataError, match=r"expected \[rows, 6\]"):
        check_parity(model, conversion.onnx_bytes, conversion.signature, X[:, :4], Tolerance())


def test_convert_wrong_custom_converter_raises_parity_error(regression_data) -> None:
    X, y = regression_data

    class ShiftedRegression(LinearRegression):
        """A subclass whose predict differs from what the registered converter emits."""

        def predict(self, X):
            return super().predict(X) + 1.0

    def as_plain_linear_regression(model: object, n_features: int) -> onnx.ModelProto:
        plain = LinearRegression()
        plain.coef_, plain.intercept_ = model.coef_, model.intercept_
        plain.n_features_in_ = n_features
        return convert_sklearn_model(plain, n_features)

    register_converter(ShiftedRegression, as_plain_linear_regression)
    try:
        with pytest.raises(ParityError, match="worst rows: row "):
            convert(ShiftedRegression().fit(X, y), X)
    finally:
        unregister_converter(ShiftedRegression)


def test_convert_max_parity_rows_caps_rows_compared(regression_data) -> None:
    X, y = regression_data
    conversion = convert(LinearRegression().fit(X, y), X, max_parity_rows=50)
    assert conversion.parity.rows == 50


def test_convert_feature_names_given_are_used_in_order(regression_data) -> None:
    X, y = regression_data
    names = ["bid", "ask", "spread", "volume", "rsi", "macd"]
    conversion = convert(LinearRegression().fit(X, y), X, feature_names=names)
    assert conversion.signature.features == tuple(names)
    assert list(conversion.feature_importance) == names


def test_convert_feature_names_of_wrong_length_raise_data_error(regression_data) -> None:
    X, y = regression_data
    with pytest.raises(DataError, match="3 feature names given for a model of 6 features"):
        convert(LinearRegression().fit(X, y), X, feature_names=["a", "b", "c"])


def test_convert_repeated_feature_names_raise_data_error(regression_data) -> None:
    X, y = regression_data
    with pytest.raises(DataError, match="feature names must be unique and non-empty"):
        convert(LinearRegression().fit(X, y), X, feature_names=["a", "b", "c", "d", "e", "a"])


def test_convert_max_parity_rows_below_one_raises_data_error(regression_data) -> None:
    X, y = regression_data
    with pytest.raises(DataError, match="max_parity_rows must be >= 1, got 0"):
        convert(LinearRegression().fit(X, y), X, max_parity_rows=0)


def test_check_parity_sample_without_rows_raises_data_error(regression_data) -> None:
    X, y = regression_data
    model = LinearRegression().fit(X, y)
    conversion = convert(model, X)
    with pytest.raises(DataError, match="sample has no rows"):
        check_parity(model, conversion.onnx_bytes, conversion.signature, X[:0])


def test_tolerance_negative_value_is_refused() -> None:
    with pytest.raises(ValueError, match="value_atol"):
        Tolerance(value_atol=-1.0)


def test_convert_nan_rows_with_imputing_pipeline_parity_passes(multiclass_data) -> None:
    X, y = multiclass_data
    X = X.copy()
    X[::7, 2] = np.nan
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y)
    assert convert(model, X).parity.passed


def test_convert_nan_sample_for_model_without_imputer_raises_data_error(regression_data) -> None:
    X, y = regression_data
    model = LinearRegression().fit(X, y)
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(DataError, match="original model's predict failed"):
        convert(model, X)


def test_parity_mismatch_describe_names_probabilities() -> None:
    row = ParityMismatch(4, 1, 0, 0.5, (0.2, 0.8), (0.7, 0.3))
    assert row.describe() == (
        "row 4: expected 1, got 0 (probabilities expected [0.2, 0.8], got [0.7, 0.3]) (diff 0.5)"
    )


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_convert_model_fitted_on_named_columns_uses_its_feature_names(
    regression_data, kind: str
) -> None:
    import lightgbm
    import pandas as pd
    import xgboost

    X, y = regression_data
    names = ["bid", "ask", "spread", "volume", "rsi", "macd"]
    frame = pd.DataFrame(X, columns=names)
    model = {
        "sklearn": lambda: LinearRegression(),
        "xgboost": lambda: xgboost.XGBRegressor(n_estimators=5),
        "lightgbm": lambda: lightgbm.LGBMRegressor(n_estimators=5, verbose=-1),
    }[kind]().fit(frame, y)
    conversion = convert(model, X)
    assert conversion.parity.passed
    assert conversion.signature.features == tuple(names)


#: a price level float32 cannot hold to the cent: its spacing at 1e12 is 65536.
PRICE_LEVEL = 1e12


def _levelled(kind: str, level: float = PRICE_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """float64 data set ``kind`` with ``level`` added to its first feature (a price level)."""
    X, y = make_data(kind, np.float64)
    X = X.copy()
    X[:, 0] += level
    return X, y


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_convert_float64_data_with_large_offset_is_refused_naming_worst_rows(task: str) -> None:
    # the scaler removes the level again, but float32 has lost the rest by then
    X, y = _levelled("binary" if task == "classification" else "regression")
    final = LogisticRegression() if task == "classification" else Ridge()
    model = make_pipeline(StandardScaler(), final).fit(X, y)
    with pytest.raises(ParityError) as err:
        convert(model, X)
    worst = err.value.worst_rows
    assert 1 <= len(worst) <= 5
    message = str(err.value)
    assert "worst rows: row " in message
    for row in worst:
        assert f"row {row.index}: expected" in message
        if task == "classification":  # what the original says on the row as given
            expected = model.predict_proba(X[row.index : row.index + 1])[0]
            assert row.expected_proba == pytest.approx(tuple(expected))
        else:
            assert row.expected == pytest.approx(model.predict(X[row.index : row.index + 1])[0])
    assert err.value.report is not None and not err.value.report.passed


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_convert_float64_data_float32_can_hold_passes(task: str) -> None:
    # float32 still resolves a level of 100 to 1e-5
    X, y = _levelled("binary" if task == "classification" else "regression", 100.0)
    final = LogisticRegression() if task == "classification" else Ridge()
    model = make_pipeline(StandardScaler(), final).fit(X, y)
    report = convert(model, X).parity
    assert report.passed and report.rows == len(X)


def test_check_parity_original_rows_refuse_what_their_float32_cast_hides() -> None:
    X, y = _levelled("binary")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    conversion = convert(model, X.astype(np.float32))  # cast first: nothing to compare
    assert conversion.parity.passed
    with pytest.raises(ParityError, match="float64 rows, ONNX on their float32 cast"):
        check_parity(model, conversion.onnx_bytes, conversion.signature, X)


@pytest.mark.parametrize(
    ("build", "refused"),
    [
        (lambda: RandomForestClassifier(n_estimators=10, random_state=0), False),
        (lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0), False),
        (lambda: lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1), True),
        (lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0), True),
    ],
    ids=["sklearn-forest", "xgboost", "lightgbm", "hist-gradient-boosting"],
)
def test_convert_trees_on_offset_data_refused_only_when_they_compare_in_float64(
    build, refused: bool
) -> None:
    """sklearn trees and XGBoost cast X to float32 themselves: the served cast changes
    nothing they see. LightGBM and HistGradientBoosting split on float64 values that the
    served float32 input no longer tells apart."""
    X, y = _levelled("binary")
    model = build().fit(X, y)
    if refused:
        with pytest.raises(ParityError, match="worst rows: row "):
            convert(model, X)
    else:
        assert convert(model, X).parity.passed
