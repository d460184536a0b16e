"""`register`'s MODEL_FILE and --data, read into the version to upload (conversion runs here)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli.backend import CliError

if TYPE_CHECKING:
    from converters import Table
    from gateway.registration import PreparedVersion


def _estimator_features(model: Any) -> list[str] | None:
    """The feature names an estimator was fitted with, when it recorded real names."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        try:  # xgboost's sklearn API: the booster keeps the names it was fitted with
            names = model.get_booster().feature_names
        except Exception:
            names = None
    if names is None:
        names = getattr(model, "feature_name_", None)  # lightgbm; Column_<i> when unnamed
        if names is not None and all(str(n) == f"Column_{i}" for i, n in enumerate(names)):
            names = None
    return [str(n) for n in names] if names is not None else None


def prepare_from_files(args: argparse.Namespace) -> PreparedVersion:
    """Load MODEL_FILE and --data and build the version to upload (conversion runs here)."""
    model_path, data_path = Path(args.model_file), Path(args.data)
    for label, path in (("model file", model_path), ("data file", data_path)):
        if not path.is_file():
            problem = "is not a file" if path.exists() else "not found"
            raise CliError(f"{label} {str(path)!r} {problem}")
    from converters.data import load_table
    from gateway.registration import prepare_estimator, prepare_onnx

    common = {"tags": args.tags, "description": args.description, "target": args.target or ""}
    if model_path.suffix.lower() == ".onnx":
        onnx_bytes = model_path.read_bytes()
        table = _onnx_table(onnx_bytes, data_path, args.target)
        return prepare_onnx(onnx_bytes, table.X, feature_names=table.feature_names, **common)
    model = _load_estimator(model_path)
    table = load_table(data_path, target=args.target, features=_estimator_features(model))
    return prepare_estimator(model, table.X, table.y, feature_names=table.feature_names, **common)


def _onnx_table(onnx_bytes: bytes, data_path: Path, target: str | None) -> Table:
    """The data's feature columns for an ONNX model: the features its embedded signature
    names, in that order, when the file has them; else every column but the target."""
    from converters import DataError, load_table, validate_onnx

    features = validate_onnx(onnx_bytes).features  # raises InvalidOnnxError for garbage
    try:
        return load_table(data_path, target=target, features=features)
    except DataError:
        return load_table(data_path, target=target)


def _load_estimator(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling can fail in any way: report it as one line
        raise CliError(
            f"cannot load estimator from {str(path)!r} ({type(exc).__name__}: {exc}); "
            "expected a joblib/pickle file of a fitted estimator or an .onnx file"
        ) from exc
