"""XGBoost sklearn-API estimators -> ONNX with onnxmltools' convert_xgboost."""

from __future__ import annotations

import copy

import onnx
import xgboost
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

from converters.registry import TARGET_OPSET, ConverterFn


def convert_xgboost_model(model: object, n_features: int) -> onnx.ModelProto:
    """Convert a fitted XGBClassifier / XGBRegressor (input "input", tensor outputs).

    onnxmltools only understands the booster's default feature names ``f0, f1, ...``,
    so a model whose booster carries real names is converted from a copy without
    them; columns are positional in ONNX anyway.

    Args:
        model: the fitted estimator.
        n_features: the input width.

    Returns:
        The onnxmltools model at ``TARGET_OPSET``.
    """
    booster = model.get_booster()  # type: ignore[attr-defined]
    if booster.feature_names is not None:
        model = copy.deepcopy(model)
        model.get_booster().feature_names = None  # type: ignore[attr-defined]
    return convert_xgboost(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET,
    )


def default_converters() -> dict[type, ConverterFn]:
    """The XGBoost types this module converts."""
    return {
        xgboost.XGBClassifier: convert_xgboost_model,
        xgboost.XGBRegressor: convert_xgboost_model,
    }
