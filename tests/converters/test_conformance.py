"""Conformance suite: every supported estimator through conversion, parity, contract, round trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import lightgbm
import numpy as np
import onnx
import pytest
import xgboost
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
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from converters import (
    SIGNATURE_KEY,
    Conversion,
    Signature,
    convert,
    load_session,
    supported_types,
    validate_onnx,
)
from converters.registry import type_name
from tests.converters.conftest import make_data


@dataclass(frozen=True)
class Case:
    """One estimator of the suite: how to build it, its data, the model_type it reports."""

    id: str
    build: Callable[[], object]
    data: str  # data set (tests.converters.conftest.make_data): binary, multiclass, regression
    model_type: str
    labels: Callable[[np.ndarray], np.ndarray] = lambda y: y  # relabel the target


SK = "sklearn"
CASES = [
    Case("logreg", LogisticRegression, "binary", f"{SK}.linear_model.LogisticRegression"),
    Case(
        "logreg-multiclass-string-labels",
        LogisticRegression,
        "multiclass",
        f"{SK}.linear_model.LogisticRegression",
        lambda y: np.array(["down", "flat", "up"])[y],
    ),
    Case(
        "logreg-int-labels",
        LogisticRegression,
        "binary",
        f"{SK}.linear_model.LogisticRegression",
        lambda y: np.where(y == 1, 1, -1),
    ),
    Case(
        "random-forest-classifier",
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
        "binary",
        f"{SK}.ensemble.RandomForestClassifier",
    ),
    Case(
        "gradient-boosting-classifier",
        lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
        "binary",
        f"{SK}.ensemble.GradientBoostingClassifier",
    ),
    Case(
        "gradient-boosting-classifier-multiclass",
        lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
        "multiclass",
        f"{SK}.ensemble.GradientBoostingClassifier",
    ),
    Case(
        "extra-trees-classifier",
        lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
        "multiclass",
        f"{SK}.ensemble.ExtraTreesClassifier",
    ),
    Case(
        "decision-tree-classifier",
        lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
        "binary",
        f"{SK}.tree.DecisionTreeClassifier",
    ),
    Case(
        "hist-gradient-boosting-classifier",
        lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
        "multiclass",
        f"{SK}.ensemble.HistGradientBoostingClassifier",
    ),
    Case(
        "pipeline-imputer-scaler-logreg",
        lambda: make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()),
        "multiclass",
        f"{SK}.pipeline.Pipeline(SimpleImputer,StandardScaler,LogisticRegression)",
    ),
    Case(
        "pipeline-minmax-maxabs-robust-forest",
        lambda: make_pipeline(
            MinMaxScaler(),
            MaxAbsScaler(),
            RobustScaler(),
            RandomForestClassifier(n_estimators=5, random_state=0),
        ),
        "binary",
        f"{SK}.pipeline.Pipeline(MinMaxScaler,MaxAbsScaler,RobustScaler,RandomForestClassifier)",
    ),
    Case(
        "linear-regression",
        LinearRegression,
        "regression",
        f"{SK}.linear_model.LinearRegression",
    ),
    Case("lasso", Lasso, "regression", f"{SK}.linear_model.Lasso"),
    Case("elastic-net", ElasticNet, "regression", f"{SK}.linear_model.ElasticNet"),
    Case(
        "random-forest-regressor",
        lambda: RandomForestRegressor(n_estimators=10, random_state=0),
        "regression",
        f"{SK}.ensemble.RandomForestRegressor",
    ),
    Case(
        "gradient-boosting-regressor",
        lambda: GradientBoostingRegressor(n_estimators=10, random_state=0),
        "regression",
        f"{SK}.ensemble.GradientBoostingRegressor",
    ),
    Case(
        "extra-trees-regressor",
        lambda: ExtraTreesRegressor(n_estimators=10, random_state=0),
        "regression",
        f"{SK}.ensemble.ExtraTreesRegressor",
    ),
    Case(
        "decision-tree-regressor",
        lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
        "regression",
        f"{SK}.tree.DecisionTreeRegressor",
    ),
    Case(
        "hist-gradient-boosting-regressor",
        lambda: HistGradientBoostingRegressor(max_iter=10, random_state=0),
        "regression",
        f"{SK}.ensemble.HistGradientBoostingRegressor",
    ),
    Case(
        "pipeline-scaler-ridge",
        lambda: make_pipeline(StandardScaler(), Ridge()),
        "regression",
        f"{SK}.pipeline.Pipeline(StandardScaler,Ridge)",
    ),
    Case(
        "xgb-classifier-binary",
        lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0),
        "binary",
        "xgboost.XGBClassifier",
    ),
    Case(
        "xgb-classifier-multiclass",
        lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0),
        "multiclass",
        "xgboost.XGBClassifier",
    ),
    Case(
        "xgb-regressor",
        lambda: xgboost.XGBRegressor(n_estimators=10, max_depth=3, random_state=0),
        "regression",
        "xgboost.XGBRegressor",
    ),
    Case(
        "lgbm-classifier-binary",
        lambda: lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1),
        "binary",
        "lightgbm.LGBMClassifier",
    ),
    Case(
        "lgbm-classifier-multiclass-string-labels",
        lambda: lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1),
        "multiclass",
        "lightgbm.LGBMClassifier",
        lambda y: np.array(["a", "b", "c"])[y],
    ),
    Case(
        "lgbm-regressor",
        lambda: lightgbm.LGBMRegressor(n_estimators=10, random_state=0, verbose=-1),
        "regression",
        "lightgbm.LGBMRegressor",
    ),
]


@dataclass(frozen=True)
class Converted:
    case: Case
    model: object
    X: np.ndarray
    conversion: Conversion


#: float32 data is what the gateway serves; float64 data is what most callers train on,
#: and parity compares the original model on it with the ONNX model on its float32 cast.
PRECISIONS = (np.float32, np.float64)


@pytest.fixture(
    scope="module",
    params=[(case, dtype) for case in CASES for dtype in PRECISIONS],
    ids=[f"{case.id}-{dtype.__name__}" for case in CASES for dtype in PRECISIONS],
)
def converted(request: pytest.FixtureRequest) -> Converted:
    case, dtype = request.param
    X, y = make_data(case.data, dtype)
    model = case.build()
    model.fit(X, case.labels(y))
    return Converted(case, model, X, convert(model, X))


def _is_classifier(item: Converted) -> bool:
    return item.case.data != "regression"


def test_supported_types_each_covered_by_a_conformance_case() -> None:
    covered = set()
    for case in CASES:
        model = case.build()
        covered.add(type_name(type(model)))
        covered.update(type_name(type(step)) for _, step in getattr(model, "steps", []))
    assert set(supported_types()) <= covered


def test_convert_supported_estimator_parity_passes(converted: Converted) -> None:
    report = converted.conversion.parity
    assert report.passed
    assert report.rows == len(converted.X)
    if _is_classifier(converted):
        assert report.label_agreement == 1.0
        assert report.max_proba_diff <= 1e-5
    else:
        assert (
            report.max_value_diff
            <= 1e-4 + 1e-4 * np.abs(converted.model.predict(converted.X)).max()
        )


def test_convert_supported_estimator_signature_describes_model(converted: Converted) -> None:
    sig = converted.conversion.signature
    model = converted.model
    assert sig.features == tuple(f"f{i}" for i in range(converted.X.shape[1]))
    assert sig.n_features == converted.X.shape[1]
    assert sig.input_name == "input"
    if _is_classifier(converted):
        assert sig.task == "classification"
        assert sig.class_labels == tuple(np.asarray(model.classes_).tolist())
        assert (sig.label_output, sig.probability_output, sig.value_output) == (
            "label",
            "probabilities",
            None,
        )
        assert [(o.name, o.dtype, o.shape) for o in sig.outputs] == [
            ("label", "int64", (None,)),
            ("probabilities", "float32", (None, len(model.classes_))),
        ]
    else:
        assert sig.task == "regression"
        assert sig.class_labels == ()
        assert (sig.label_output, sig.probability_output, sig.value_output) == (
            None,
            None,
            "variable",
        )
        assert [(o.name, o.dtype, o.shape) for o in sig.outputs] == [
            ("variable", "float32", (None, 1))
        ]


def test_convert_supported_estimator_onnxruntime_outputs_match_contract(
    converted: Converted,
) -> None:
    session = load_session(converted.conversion.onnx_bytes)
    (inp,) = session.get_inputs()
    assert (inp.name, inp.type, inp.shape[1]) == ("input", "tensor(float)", converted.X.shape[1])
    rows = converted.X[:7]
    names = [o.name for o in session.get_outputs()]
    served = rows.astype(np.float32)
    results = dict(zip(names, session.run(None, {"input": served}), strict=True))
    if _is_classifier(converted):
        assert names == ["label", "probabilities"]
        labels, proba = results["label"], results["probabilities"]
        assert labels.dtype == np.int64 and labels.shape == (7,)
        assert proba.dtype == np.float32 and proba.shape == (7, len(converted.model.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        classes = list(converted.model.classes_)
        decoded = (
            labels.tolist()
            if all(isinstance(c, int | np.integer) for c in classes)
            else [classes[i] for i in labels]
        )
        assert decoded == converted.model.predict(rows).tolist()
    else:
        assert names == ["variable"]
        assert results["variable"].dtype == np.float32
        assert results["variable"].shape == (7, 1)


def test_validate_onnx_converted_bytes_return_equal_signature(converted: Converted) -> None:
    assert validate_onnx(converted.conversion.onnx_bytes) == converted.conversion.signature


def test_convert_supported_estimator_embeds_signature_in_metadata(converted: Converted) -> None:
    model = onnx.load_from_string(converted.conversion.onnx_bytes)
    props = {p.key: p.value for p in model.metadata_props}
    assert Signature.from_json(props[SIGNATURE_KEY]) == converted.conversion.signature


def test_convert_supported_estimator_records_json_safe_metadata(converted: Converted) -> None:
    conversion = converted.conversion
    assert conversion.model_type == converted.case.model_type
    json.dumps(conversion.hyperparameters, allow_nan=False)
    json.dumps(conversion.feature_importance, allow_nan=False)
    assert conversion.hyperparameters  # every supported estimator has get_params
    if conversion.feature_importance:
        assert list(conversion.feature_importance) == list(conversion.signature.features)
    final = getattr(converted.model, "steps", [[None, converted.model]])[-1][1]
    if hasattr(final, "feature_importances_") or hasattr(final, "coef_"):
        assert conversion.feature_importance


def test_convert_same_model_twice_gives_identical_bytes(regression_data) -> None:
    from sklearn.linear_model import LinearRegression

    X, y = regression_data
    model = LinearRegression().fit(X, y)
    assert convert(model, X).onnx_bytes == convert(model, X).onnx_bytes
