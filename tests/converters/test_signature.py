"""Signature documents round-trip through JSON and malformed ones are refused."""

from __future__ import annotations

import json

import pytest

from converters import OutputSpec, Signature, SignatureError
from converters.limits import (
    MAX_CLASSES,
    MAX_FEATURES,
    MAX_NAME_CHARS,
    MAX_OUTPUTS,
    MAX_RANK,
    MAX_SIGNATURE_CHARS,
)


def _classifier(**changes: object) -> Signature:
    fields = {
        "features": ("a", "b"),
        "input_name": "input",
        "outputs": (
            OutputSpec("label", "int64", (None,)),
            OutputSpec("probabilities", "float32", (None, 2)),
        ),
        "task": "classification",
        "class_labels": ("buy", "sell"),
        "label_output": "label",
        "probability_output": "probabilities",
        "value_output": None,
    }
    fields.update(changes)
    return Signature(**fields)


def test_signature_to_dict_is_json_and_round_trips() -> None:
    signature = _classifier()
    document = json.loads(json.dumps(signature.to_dict(), allow_nan=False))
    assert Signature.from_dict(document) == signature
    assert Signature.from_json(signature.to_json()) == signature
    assert signature.n_features == 2


def test_signature_lists_are_frozen_to_tuples() -> None:
    signature = _classifier(features=["a", "b"], class_labels=[0, 1])
    assert signature.features == ("a", "b") and signature.class_labels == (0, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": ("a", "a")}, "unique"),
        ({"features": ()}, "at least one feature"),
        ({"task": "ranking"}, "task must be one of"),
        ({"class_labels": ()}, "needs class_labels"),
        ({"class_labels": (1.5, 2.5)}, "ints or strings"),
        ({"probability_output": "proba"}, "must name one of the outputs"),
        ({"value_output": "variable"}, "no value_output"),
    ],
)
def test_signature_inconsistent_fields_raise_signature_error(changes: dict, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        _classifier(**changes)


def test_signature_from_dict_missing_key_raises_signature_error() -> None:
    document = _classifier().to_dict()
    del document["outputs"]
    with pytest.raises(SignatureError, match="lacks the key 'outputs'"):
        Signature.from_dict(document)


def test_signature_from_dict_future_format_raises_signature_error() -> None:
    document = _classifier().to_dict() | {"format": 99}
    with pytest.raises(SignatureError, match="format 99"):
        Signature.from_dict(document)


def test_signature_from_json_bad_json_raises_signature_error() -> None:
    with pytest.raises(SignatureError, match="not valid JSON"):
        Signature.from_json("{nope")


def test_signature_from_json_nested_too_deeply_raises_signature_error() -> None:
    with pytest.raises(SignatureError, match="nested too deeply"):
        Signature.from_json("[" * 100_000)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "must be a mapping, got list"),
        ({"outputs": "label"}, "'outputs' must be a list, got str"),
        ({"outputs": [{"name": "label", "dtype": "int64", "shape": 3}]}, "malformed"),
        ({"outputs": [{"name": "", "dtype": "int64", "shape": [None]}]}, "non-empty string"),
        ({"outputs": [{"name": "label", "dtype": "int64", "shape": [-1]}]}, "non-negative"),
        ({"input_name": ""}, "input_name must be a non-empty string"),
    ],
    ids=["not-mapping", "outputs-string", "shape-int", "empty-name", "negative-dim", "input"],
)
def test_signature_from_dict_malformed_document_raises_signature_error(
    document: object, message: str
) -> None:
    if isinstance(document, dict):
        document = _classifier().to_dict() | document
    with pytest.raises(SignatureError, match=message):
        Signature.from_dict(document)


def _labels(n: int) -> dict[str, object]:
    """Changes to ``_classifier`` for ``n`` classes, the probability output to match."""
    return {
        "class_labels": tuple(range(n)),
        "outputs": (
            OutputSpec("label", "int64", (None,)),
            OutputSpec("probabilities", "float32", (None, n)),
        ),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"features": tuple(f"f{i}" for i in range(MAX_FEATURES + 1))},
            f"declares {MAX_FEATURES + 1} features; at most {MAX_FEATURES} are allowed",
        ),
        (
            {"features": ("a", "b" * (MAX_NAME_CHARS + 1))},
            f"feature name 'bbbb.* is {MAX_NAME_CHARS + 1} characters long; at most "
            f"{MAX_NAME_CHARS}",
        ),
        ({"input_name": "i" * 1000}, "input name 'iii.* is 1000 characters long"),
        (
            _labels(MAX_CLASSES + 1),
            f"declares {MAX_CLASSES + 1} class labels; at most {MAX_CLASSES} are allowed",
        ),
        ({"class_labels": ("buy", "s" * 300)}, "class label 'sss.* is 300 characters long"),
        ({"class_labels": (0, 2**64)}, "does not fit the int64 output"),
        ({"class_labels": ("buy", "sell", "hold")}, "has 2 columns but the signature has 3"),
        (
            {
                "outputs": (
                    OutputSpec("label", "int64", (None,)),
                    OutputSpec("probabilities", "float32", (None, 2)),
                    *(OutputSpec(f"extra{i}", "float32", (None,)) for i in range(MAX_OUTPUTS)),
                )
            },
            f"declares {MAX_OUTPUTS + 2} outputs; at most {MAX_OUTPUTS} are allowed",
        ),
        (
            {"features": tuple(f"feature_{'x' * 200}_{i}" for i in range(MAX_FEATURES))},
            f"characters of JSON; at most {MAX_SIGNATURE_CHARS} are allowed",
        ),
    ],
    ids=[
        "features",
        "feature-name",
        "input-name",
        "classes",
        "class-label",
        "int-label",
        "labels-vs-columns",
        "outputs",
        "document",
    ],
)
def test_signature_beyond_limits_raises_bounded_signature_error(
    changes: dict, message: str
) -> None:
    with pytest.raises(SignatureError, match=message) as err:
        _classifier(**changes)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "o" * 300, "dtype": "float32", "shape": [None]},
        {"name": "o", "dtype": "f" * 100, "shape": [None]},
        {"name": "o", "dtype": "float32", "shape": [None] * (MAX_RANK + 1)},
        {"name": "o", "dtype": "float32", "shape": [2**63]},
    ],
    ids=["name", "dtype", "rank", "dim"],
)
def test_output_spec_beyond_limits_raises_bounded_signature_error(spec: dict) -> None:
    with pytest.raises(SignatureError) as err:
        OutputSpec(spec["name"], spec["dtype"], tuple(spec["shape"]))
    assert len(str(err.value)) < 300


def test_signature_at_every_limit_round_trips() -> None:
    signature = _classifier(
        features=tuple(f"f{i}" for i in range(MAX_FEATURES)), **_labels(MAX_CLASSES)
    )
    assert Signature.from_json(signature.to_json()) == signature


def test_signature_repeated_names_message_is_bounded() -> None:
    features = tuple(f"f{i % 2000}" for i in range(4000))
    with pytest.raises(SignatureError, match=r"repeated: \['f0', .*and 1995 more\]") as err:
        _classifier(features=features)
    assert len(str(err.value)) < 300


def test_signature_from_json_longer_than_cap_is_refused_before_parsing() -> None:
    text = "[" * (MAX_SIGNATURE_CHARS + 1)  # would recurse too deeply if parsed
    with pytest.raises(SignatureError, match=f"at most {MAX_SIGNATURE_CHARS} are allowed"):
        Signature.from_json(text)
