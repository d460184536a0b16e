"""Small synthetic data sets shared by the converters tests (seeded, a few hundred rows)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

N_FEATURES = 6


@pytest.fixture(scope="session")
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=300, n_features=N_FEATURES, n_informative=4, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def multiclass_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=300, n_features=N_FEATURES, n_informative=4, n_classes=3, random_state=1
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def regression_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n_samples=300, n_features=N_FEATURES, noise=5.0, random_state=2)
    return X.astype(np.float32), y
