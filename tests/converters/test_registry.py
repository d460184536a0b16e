"""The converter registry: unsupported types are named, duplicates are refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVR

from converters import (
    DuplicateConverterError,
    UnsupportedModelError,
    convert,
    register_converter,
    supported_types,
    unregister_converter,
)
from converters.registry import find_converter


class _Custom:
    """A stand-in estimator type for registry tests."""


def _noop_converter(model: object, n_features: int) -> onnx.ModelProto:
    raise AssertionError("never called")


def test_convert_unsupported_estimator_names_type_and_lists_supported(regression_data) -> None:
    X, y = regression_data
    with pytest.raises(UnsupportedModelError) as err:
        convert(SVR().fit(X, y), X)
    message = str(err.value)
    assert "cannot convert sklearn.svm.SVR" in message
    assert "xgboost.XGBClassifier" in message and "lightgbm.LGBMRegressor" in message
    assert err.value.model_type == "sklearn.svm.SVR"
    assert "sklearn.pipeline.Pipeline" in err.value.supported


def test_convert_pipeline_with_unsupported_step_names_the_step(binary_data) -> None:
    X, y = binary_data
    model = make_pipeline(PCA(n_components=3), LogisticRegression()).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="pipeline step 'pca' is PCA"):
        convert(model, X)


def test_convert_plain_object_is_unsupported() -> None:
    with pytest.raises(UnsupportedModelError, match=r"cannot convert builtins\.object"):
        convert(object(), [[1.0]])


def test_register_converter_same_type_twice_raises() -> None:
    register_converter(_Custom, _noop_converter)
    try:
        with pytest.raises(DuplicateConverterError, match=r"already registered.*overwrite=True"):
            register_converter(_Custom, _noop_converter)
        assert find_converter(_Custom()) is _noop_converter
    finally:
        unregister_converter(_Custom)


def test_register_converter_overwrite_true_replaces() -> None:
    def other(model: object, n_features: int) -> onnx.ModelProto:
        raise AssertionError("never called")

    register_converter(_Custom, _noop_converter)
    try:
        register_converter(_Custom, other, overwrite=True)
        assert find_converter(_Custom()) is other
    finally:
        unregister_converter(_Custom)
    with pytest.raises(UnsupportedModelError):
        find_converter(_Custom())


def test_register_converter_for_builtin_default_without_overwrite_raises() -> None:
    with pytest.raises(DuplicateConverterError, match="LogisticRegression"):
        register_converter(LogisticRegression, _noop_converter)
    assert "sklearn.linear_model.LogisticRegression" in supported_types()


def test_convert_unfitted_estimator_raises_conversion_error() -> None:
    from converters import ConversionError

    with pytest.raises(ConversionError, match="not fitted"):
        convert(LogisticRegression(), [[1.0, 2.0]])


def test_convert_multi_output_regression_is_unsupported(regression_data) -> None:
    X, y = regression_data
    model = LinearRegression().fit(X, np.column_stack([y, -y]))
    with pytest.raises(UnsupportedModelError, match="only single-output regression"):
        convert(model, X)


def test_convert_converter_library_failure_is_unsupported_naming_the_error(
    regression_data,
) -> None:
    X, y = regression_data

    class Unconvertible(LinearRegression):
        """A type whose converter fails the way converter libraries do."""

    def failing(model: object, n_features: int) -> onnx.ModelProto:
        raise KeyError("no shape calculator for Unconvertible")

    register_converter(Unconvertible, failing)
    try:
        with pytest.raises(UnsupportedModelError, match="KeyError: 'no shape calculator"):
            convert(Unconvertible().fit(X, y), X)
    finally:
        unregister_converter(Unconvertible)


def test_convert_classifier_with_fractional_class_labels_is_unsupported(binary_data) -> None:
    X, y = binary_data
    model = LogisticRegression().fit(X, y)
    model.classes_ = np.array([0.5, 1.5])  # sklearn refuses such labels; a custom model may not
    with pytest.raises(UnsupportedModelError, match=r"class label 0\.5 is neither an int nor"):
        convert(model, X)
