"""Estimator type -> converter function; refuses silent overwrites (like skl2onnx's registry).

Lookup is by exact type: a subclass may change ``predict``, so it must be registered on
its own. The default converters (sklearn, xgboost, lightgbm) are registered lazily, on
the first lookup or registration, so that importing ``converters`` (as the gateway does
to validate and load ONNX) does not import the training libraries.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

import onnx

from converters.errors import DuplicateConverterError, UnsupportedModelError

#: ONNX opset of every converted model: onnxmltools 1.16 supports at most 15, skl2onnx and
#: onnxruntime 1.32 support it too. (ai.onnx.ml stays at the converters' default.)
TARGET_OPSET = 15

#: ``fn(model, n_features) -> ModelProto``: the raw converter output, input named "input"
#: (float32 [None, n_features]) and plain tensor outputs (no ZipMap); the caller renames
#: and reshapes outputs to galgate's contract.
ConverterFn = Callable[[object, int], onnx.ModelProto]

_DEFAULT_MODULES = ("converters.sklearn", "converters.xgboost", "converters.lightgbm")
_converters: dict[type, ConverterFn] = {}
_lock = threading.RLock()
_defaults_loaded = False


def type_name(model_type: type) -> str:
    """``module.Class`` with private module parts dropped, e.g. ``xgboost.XGBClassifier``.

    >>> from collections import OrderedDict
    >>> type_name(OrderedDict)
    'collections.OrderedDict'
    """
    parts = [p for p in model_type.__module__.split(".") if not p.startswith("_")]
    name = model_type.__qualname__
    for end in range(1, len(parts) + 1):  # shortest public module that exports the class
        try:
            module = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        if getattr(module, name, None) is model_type:
            return f"{'.'.join(parts[:end])}.{name}"
    return f"{'.'.join(parts)}.{name}" if parts else name


def _load_defaults() -> None:
    global _defaults_loaded
    with _lock:
        if _defaults_loaded:
            return
        _defaults_loaded = True
        for module_name in _DEFAULT_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # the training library is not installed: no converter for it
                continue
            for model_type, fn in module.default_converters().items():
                _converters.setdefault(model_type, fn)


def register_converter(model_type: type, fn: ConverterFn, *, overwrite: bool = False) -> None:
    """Register ``fn`` as the converter of ``model_type``.

    Args:
        model_type: the estimator class (matched exactly, not by subclass).
        fn: ``fn(model, n_features) -> onnx.ModelProto``.
        overwrite: replace an existing converter instead of refusing.

    Raises:
        DuplicateConverterError: a converter is registered for the type and not ``overwrite``.
    """
    _load_defaults()
    with _lock:
        if model_type in _converters and not overwrite:
            raise DuplicateConverterError(type_name(model_type))
        _converters[model_type] = fn


def unregister_converter(model_type: type) -> None:
    """Remove the converter of ``model_type`` (no error when there is none)."""
    _load_defaults()
    with _lock:
        _converters.pop(model_type, None)


def supported_types() -> tuple[str, ...]:
    """Sorted names of every estimator type that has a converter."""
    _load_defaults()
    with _lock:
        return tuple(sorted(type_name(t) for t in _converters))


def find_converter(model: object) -> ConverterFn:
    """The converter for ``model``'s exact type; raises UnsupportedModelError naming the
    type and listing the supported ones."""
    _load_defaults()
    with _lock:
        fn = _converters.get(type(model))
    if fn is None:
        raise UnsupportedModelError(type_name(type(model)), supported_types())
    return fn
