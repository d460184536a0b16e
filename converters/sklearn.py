"""scikit-learn estimators and pipelines -> ONNX with skl2onnx, outputs as plain tensors."""

from __future__ import annotations

import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from converters.errors import UnsupportedModelError
from converters.registry import TARGET_OPSET, ConverterFn, supported_types, type_name

#: final estimators (alone or at the end of a Pipeline), each covered by the conformance suite.
ESTIMATORS: tuple[type, ...] = (
    LogisticRegression,
    DecisionTreeClassifier,
    RandomForestClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    LinearRegression,
    Ridge,
    Lasso,
    ElasticNet,
    DecisionTreeRegressor,
    RandomForestRegressor,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
)
#: steps allowed in front of the final estimator of a Pipeline.
TRANSFORMERS: tuple[type, ...] = (
    SimpleImputer,
    StandardScaler,
    MinMaxScaler,
    MaxAbsScaler,
    RobustScaler,
)


def _check_pipeline(pipeline: Pipeline) -> object:
    """Return the final estimator; raise UnsupportedModelError for a step we cannot convert."""
    steps = pipeline.steps
    allowed = ", ".join(t.__name__ for t in TRANSFORMERS)
    finals = ", ".join(t.__name__ for t in ESTIMATORS)
    for position, (name, step) in enumerate(steps):
        last = position == len(steps) - 1
        kinds = ESTIMATORS if last else TRANSFORMERS
        if type(step) not in kinds:
            detail = (
                f"pipeline step {name!r} is {step!r}; a pipeline may hold "
                f"{allowed} followed by one of {finals}"
            )
            raise UnsupportedModelError(type_name(type(pipeline)), supported_types(), detail)
    return steps[-1][1]


def convert_sklearn_model(model: object, n_features: int) -> onnx.ModelProto:
    """Convert a fitted scikit-learn estimator or Pipeline (input "input", no ZipMap).

    Args:
        model: a fitted estimator of a type in ``ESTIMATORS``, or a Pipeline of
            ``TRANSFORMERS`` ending in one.
        n_features: the input width.

    Returns:
        The skl2onnx model at ``TARGET_OPSET``.
    """
    final = _check_pipeline(model) if isinstance(model, Pipeline) else model
    options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
    return convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET,
        options=options,
    )


def default_converters() -> dict[type, ConverterFn]:
    """Every scikit-learn type this module converts."""
    table: dict[type, ConverterFn] = dict.fromkeys(ESTIMATORS, convert_sklearn_model)
    table[Pipeline] = convert_sklearn_model
    return table
