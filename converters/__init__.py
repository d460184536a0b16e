"""sklearn / xgboost / lightgbm -> ONNX, parity checks, signatures, ONNX vetting, profiles."""

from __future__ import annotations

from converters.conversion import Conversion, convert
from converters.data import Table, load_table
from converters.errors import (
    ConversionError,
    DataError,
    DuplicateConverterError,
    InvalidOnnxError,
    ParityError,
    ParityMismatch,
    SignatureError,
    UnsupportedModelError,
)
from converters.parity import ParityReport, Tolerance, check_parity
from converters.profile import ReferenceProfile, build_profile
from converters.registry import (
    TARGET_OPSET,
    register_converter,
    supported_types,
    unregister_converter,
)
from converters.signature import SIGNATURE_KEY, OutputSpec, Signature
from converters.validate import load_session, validate_onnx

__all__ = [
    "SIGNATURE_KEY",
    "TARGET_OPSET",
    "Conversion",
    "ConversionError",
    "DataError",
    "DuplicateConverterError",
    "InvalidOnnxError",
    "OutputSpec",
    "ParityError",
    "ParityMismatch",
    "ParityReport",
    "ReferenceProfile",
    "Signature",
    "SignatureError",
    "Table",
    "Tolerance",
    "UnsupportedModelError",
    "build_profile",
    "check_parity",
    "convert",
    "load_session",
    "load_table",
    "register_converter",
    "supported_types",
    "unregister_converter",
    "validate_onnx",
]
