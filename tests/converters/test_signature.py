"""Signature documents round-trip through JSON and malformed ones are refused."""

from __future__ import annotations

import json

import pytest

from converters import OutputSpec, Signature, SignatureError


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
