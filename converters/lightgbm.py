"""LightGBM sklearn-API estimators -> ONNX with onnxmltools' convert_lightgbm (no ZipMap)."""

from __future__ import annotations

import lightgbm
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from converters.registry import TARGET_OPSET, ConverterFn


def convert_lightgbm_model(model: object, n_features: int) -> onnx.ModelProto:
    """Convert a fitted LGBMClassifier / LGBMRegressor (input "input", tensor outputs).

    Args:
        model: the fitted estimator.
        n_features: the input width.

    Returns:
        The onnxmltools model (it may declare an opset lower than ``TARGET_OPSET``
        when its operators need no more).
    """
    return convert_lightgbm(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET,
        zipmap=False,
    )


def default_converters() -> dict[type, ConverterFn]:
    """The LightGBM types this module converts."""
    return {
        lightgbm.LGBMClassifier: convert_lightgbm_model,
        lightgbm.LGBMRegressor: convert_lightgbm_model,
    }
