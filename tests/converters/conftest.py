"""Shared by the converters tests: small seeded data sets, and a way to break .npz bytes."""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

N_FEATURES = 6


@functools.cache
def make_data(kind: str, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The seeded data set ``kind`` ("binary", "multiclass" or "regression") as ``dtype``.

    float64 is the data as generated, with every digit; float32 is its cast, which the
    gateway would serve unchanged.
    """
    if kind == "binary":
        X, y = make_classification(
            n_samples=300, n_features=N_FEATURES, n_informative=4, random_state=0
        )
    elif kind == "multiclass":
        X, y = make_classification(
            n_samples=300, n_features=N_FEATURES, n_informative=4, n_classes=3, random_state=1
        )
    else:
        X, y = make_regression(n_samples=300, n_features=N_FEATURES, noise=5.0, random_state=2)
    X = X.astype(dtype)
    X.setflags(write=False)
    return X, y


@pytest.fixture(scope="session")
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    return make_data("binary")


@pytest.fixture(scope="session")
def multiclass_data() -> tuple[np.ndarray, np.ndarray]:
    return make_data("multiclass")


@pytest.fixture(scope="session")
def regression_data() -> tuple[np.ndarray, np.ndarray]:
    return make_data("regression")


@pytest.fixture(scope="session")
def unreadable_npz() -> Callable[[bytes, str], bytes]:
    """Return ``break_first_member(data, how)``: the ``.npz`` bytes ``data`` with their first
    array unreadable, as a corrupt or hostile upload would have it.

    ``how`` is "unknown-compression" (zipfile raises NotImplementedError) or "encrypted"
    (zipfile raises RuntimeError asking for a password).
    """

    def break_first_member(data: bytes, how: str) -> bytes:
        raw = bytearray(data)
        local = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].header_offset
        eocd = raw.rindex(b"PK\x05\x06")
        central = int.from_bytes(raw[eocd + 16 : eocd + 20], "little")
        # Offsets of the field in the local header and in the central directory entry.
        if how == "unknown-compression":
            fields, change = (local + 8, central + 10), lambda _: 99
        else:  # "encrypted": set bit 0 of the general purpose flags
            fields, change = (local + 6, central + 8), lambda flags: flags | 1
        for at in fields:
            value = change(int.from_bytes(raw[at : at + 2], "little"))
            raw[at : at + 2] = value.to_bytes(2, "little")
        return bytes(raw)

    return break_first_member
