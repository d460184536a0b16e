"""Reference profiles: statistics, NaN handling, and a pickle-free byte round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest

from converters import DataError, ReferenceProfile, build_profile


def _data(rows: int = 5000) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.column_stack([rng.normal(10, 2, rows), rng.uniform(0, 1, rows)])


def test_build_profile_statistics_match_numpy() -> None:
    X = _data()
    profile = build_profile(X, ["price", "volume"])
    assert profile.features == ("price", "volume")
    assert profile.n_rows == 5000 and profile.n_dropped == 0
    assert profile.quantiles.shape == (2, 101)
    np.testing.assert_allclose(profile.quantiles[:, 0], X.min(axis=0))
    np.testing.assert_allclose(profile.quantiles[:, 50], np.median(X, axis=0))
    np.testing.assert_allclose(profile.quantiles[:, 100], X.max(axis=0))
    np.testing.assert_allclose(profile.means, X.mean(axis=0))
    np.testing.assert_allclose(profile.stds, X.std(axis=0))


def test_build_profile_sample_is_bounded_seeded_and_float32() -> None:
    X = _data()
    profile = build_profile(X, ["a", "b"], max_sample=300, seed=3)
    assert profile.sample.shape == (300, 2) and profile.sample.dtype == np.float32
    assert np.array_equal(
        build_profile(X, ["a", "b"], max_sample=300, seed=3).sample, profile.sample
    )
    assert not np.array_equal(
        build_profile(X, ["a", "b"], max_sample=300, seed=4).sample, profile.sample
    )
    assert build_profile(X[:100], ["a", "b"]).sample.shape == (100, 2)


def test_build_profile_nan_and_inf_rows_are_dropped_and_counted() -> None:
    X = _data(100)
    X[3, 0] = np.nan
    X[8, 1] = np.inf
    profile = build_profile(X, ["a", "b"])
    assert (profile.n_rows, profile.n_dropped) == (98, 2)
    assert np.isfinite(profile.quantiles).all() and np.isfinite(profile.sample).all()


def test_build_profile_all_rows_nan_raises_data_error() -> None:
    with pytest.raises(DataError, match="no rows without NaN"):
        build_profile(np.full((3, 2), np.nan), ["a", "b"])


def test_build_profile_width_mismatch_raises_data_error() -> None:
    with pytest.raises(DataError, match=r"expected \[rows, 3\]"):
        build_profile(_data(10), ["a", "b", "c"])


def test_reference_profile_bytes_round_trip_is_equal() -> None:
    profile = build_profile(_data(3000), ["bid", "ask"], max_sample=500)
    restored = ReferenceProfile.from_bytes(profile.to_bytes())
    assert restored == profile
    assert restored.n_dropped == profile.n_dropped and restored.features == ("bid", "ask")


def test_reference_profile_arrays_are_read_only() -> None:
    profile = build_profile(_data(50), ["a", "b"])
    with pytest.raises(ValueError, match="read-only"):
        profile.means[0] = 1.0


def test_reference_profile_from_bytes_refuses_pickled_object_arrays() -> None:
    profile = build_profile(_data(50), ["a", "b"])
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(1),
        features=np.array(["a", "b"], dtype=object),  # pickled when saved
        n_rows=np.array(50),
        n_dropped=np.array(0),
        quantiles=profile.quantiles,
        means=profile.means,
        stds=profile.stds,
        sample=profile.sample,
    )
    with pytest.raises(DataError, match="no pickle"):
        ReferenceProfile.from_bytes(buffer.getvalue())


def test_reference_profile_from_bytes_garbage_raises_data_error() -> None:
    with pytest.raises(DataError):
        ReferenceProfile.from_bytes(b"definitely not an npz file")


def test_reference_profile_from_bytes_missing_array_raises_data_error() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array(1))
    with pytest.raises(DataError, match="lacks arrays"):
        ReferenceProfile.from_bytes(buffer.getvalue())


@pytest.mark.parametrize("how", ["unknown-compression", "encrypted"])
def test_reference_profile_from_bytes_unreadable_member_raises_data_error(
    unreadable_npz, how: str
) -> None:
    data = unreadable_npz(build_profile(_data(50), ["a", "b"]).to_bytes(), how)
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        ReferenceProfile.from_bytes(data)


def _profile_bytes(**changes: np.ndarray) -> bytes:
    profile = build_profile(_data(50), ["a", "b"])
    arrays = {
        "format": np.array(1),
        "features": np.array(["a", "b"]),
        "n_rows": np.array(50),
        "n_dropped": np.array(0),
        "quantiles": profile.quantiles,
        "means": profile.means,
        "stds": profile.stds,
        "sample": profile.sample,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **(arrays | changes))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": np.array(2)}, "profile format 2 is not 1"),
        ({"features": np.array([b"a", b"b"])}, "1-d unicode string array"),
        ({"means": np.array([1, 2])}, "means must be a float array"),
        ({"quantiles": np.zeros((2, 5))}, r"quantiles has shape \[2, 5\]; expected \[2, 101\]"),
        ({"sample": np.zeros((4, 3))}, r"sample has shape \[4, 3\]; expected \[rows, 2\]"),
        ({"n_rows": np.array(-1)}, "row counts must be >= 0"),
        ({"n_rows": np.array([1, 2])}, "arrays are malformed"),
        ({"n_rows": np.array(np.inf)}, "arrays are malformed"),
    ],
    ids=["format", "features", "means", "quantiles", "sample", "negative", "vector", "inf"],
)
def test_reference_profile_from_bytes_malformed_arrays_raise_data_error(
    changes: dict, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        ReferenceProfile.from_bytes(_profile_bytes(**changes))


def test_build_profile_non_numeric_data_raises_data_error() -> None:
    with pytest.raises(DataError, match="not numeric"):
        build_profile([["a", "b"]], ["x", "y"])


def test_build_profile_max_sample_below_one_raises_data_error() -> None:
    with pytest.raises(DataError, match="max_sample must be >= 1"):
        build_profile(_data(10), ["a", "b"], max_sample=0)
