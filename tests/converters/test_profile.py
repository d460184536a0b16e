"""Reference profiles: statistics, NaN handling, a pickle-free round trip, bounded reads."""

from __future__ import annotations

import contextlib
import io
import tracemalloc
import zipfile
from collections.abc import Callable

import numpy as np
import pytest

from converters import DataError, ReferenceProfile, build_profile
from converters.profile import MAX_PROFILE_BYTES, MAX_SAMPLE_ROWS


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
        ({"features": np.array([b"a", b"b"])}, "expected a unicode string array"),
        ({"means": np.array([1, 2])}, "means has dtype int64; expected a float array"),
        ({"quantiles": np.zeros((2, 5))}, r"quantiles has shape \[2, 5\]; expected \[2, 101\]"),
        ({"sample": np.zeros((4, 3))}, r"sample has shape \[4, 3\]; expected \[rows, 2\]"),
        ({"n_rows": np.array(-1)}, "row counts must be >= 0"),
        ({"n_rows": np.array([1, 2])}, r"n_rows has shape \[2\]; expected \[\]"),
        ({"n_rows": np.array(np.inf)}, "n_rows has dtype float64; expected an integer array"),
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
    with pytest.raises(DataError, match=r"max_sample must be in \[1, 2000\], got 0"):
        build_profile(_data(10), ["a", "b"], max_sample=0)


#: decompressed size of the crafted bombs: far beyond anything a 2-feature profile needs.
BOMB_BYTES = 400 * 1024 * 1024
#: what reading a bomb may add to the process's peak memory (the bomb itself is ~400 KB).
MAX_GROWTH = 64 * 1024 * 1024


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _bomb(declared_rows: int, data_bytes: int = BOMB_BYTES) -> bytes:
    """A 2-feature profile whose ``sample.npy`` declares ``declared_rows`` rows and holds
    ``data_bytes`` of zeros, deflated (~1000:1), written without ever holding them."""
    arrays = {
        "format": np.array(1),
        "features": np.array(["a", "b"]),
        "n_rows": np.array(50),
        "n_dropped": np.array(0),
        "quantiles": np.zeros((2, 101)),
        "means": np.zeros(2),
        "stds": np.zeros(2),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array)
        with archive.open("sample.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((declared_rows, 2)))
            chunk = bytes(1024 * 1024)
            for start in range(0, data_bytes, len(chunk)):
                member.write(chunk[: data_bytes - start])
    return buffer.getvalue()


def _declare_size(data: bytes, name: str, size: int) -> bytes:
    """``data`` with the zip directory saying ``name`` inflates to ``size`` bytes (a lie)."""
    raw = bytearray(data)
    eocd = raw.rindex(b"PK\x05\x06")
    at = int.from_bytes(raw[eocd + 16 : eocd + 20], "little")  # the directory's first entry
    while True:
        name_length = int.from_bytes(raw[at + 28 : at + 30], "little")
        extra, comment = (int.from_bytes(raw[at + o : at + o + 2], "little") for o in (30, 32))
        if raw[at + 46 : at + 46 + name_length] == name.encode():
            raw[at + 24 : at + 28] = size.to_bytes(4, "little")
            return bytes(raw)
        at += 46 + name_length + extra + comment


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """~400 KB whose sample.npy declares, and holds, 400 MB of zeros."""
    return _bomb(BOMB_BYTES // 8)


def _peak_growth(read: Callable[[], object]) -> int:
    """Peak traced memory while ``read()`` fails, above what was in use before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with pytest.raises(DataError) as err:
            read()
        growth = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(str(err.value)) < 300
    return growth


def test_reference_profile_from_bytes_zip_bomb_is_refused_without_inflating(bomb: bytes) -> None:
    assert len(bomb) < 1024 * 1024  # a few hundred KB
    with pytest.raises(
        DataError,
        match=rf"declares \d{{9}} bytes when decompressed; at most {MAX_PROFILE_BYTES} are",
    ):
        ReferenceProfile.from_bytes(bomb)
    assert _peak_growth(lambda: ReferenceProfile.from_bytes(bomb)) < MAX_GROWTH


def test_reference_profile_from_bytes_directory_understating_a_bomb_is_refused(
    bomb: bytes,
) -> None:
    lying = _declare_size(bomb, "sample.npy", 16_128)  # what 2000 rows would take
    with pytest.raises(DataError, match=r"sample of shape \[52428800, 2\].* at most 32000"):
        ReferenceProfile.from_bytes(lying)
    assert _peak_growth(lambda: ReferenceProfile.from_bytes(lying)) < MAX_GROWTH


@pytest.mark.parametrize(
    ("directory", "message"),
    [
        ("honest", "sample holds more bytes of data; its header declares 8000"),
        ("understated", r"not a readable \.npz \(sample\): Bad CRC-32"),
    ],
)
def test_reference_profile_from_bytes_member_holding_more_than_its_header_is_refused(
    directory: str, message: str
) -> None:
    data = _bomb(1000, data_bytes=16_000)  # the .npy header says 1000 rows: 8000 bytes
    if directory == "understated":
        data = _declare_size(data, "sample.npy", len(_npy_header((1000, 2))) + 8000)
    with pytest.raises(DataError, match=message):
        ReferenceProfile.from_bytes(data)


def test_reference_profile_full_size_round_trips_within_the_caps() -> None:
    names = [f"feature_{i}" for i in range(64)]
    X = np.random.default_rng(1).normal(size=(5000, 64))
    profile = build_profile(X, names)
    assert profile.sample.shape == (MAX_SAMPLE_ROWS, 64)
    assert ReferenceProfile.from_bytes(profile.to_bytes()) == profile


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_reference_profile_from_bytes_too_many_members_are_refused() -> None:
    members = _members(build_profile(_data(50), ["a", "b"]).to_bytes())
    members |= {f"extra{i}.npy": b"" for i in range(1000)}
    with pytest.raises(DataError, match="has 1008 members; at most 8 are allowed"):
        ReferenceProfile.from_bytes(_zip_of(members))


def test_reference_profile_from_bytes_unexpected_member_is_refused() -> None:
    members = _members(build_profile(_data(50), ["a", "b"]).to_bytes())
    members["means.npy.evil"] = members.pop("means.npy")
    with pytest.raises(DataError, match=r"holds members \[.*'means.npy.evil'"):
        ReferenceProfile.from_bytes(_zip_of(members))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"means": np.zeros(2, dtype=[("x", "<f8")])}, "means has dtype void64"),
        ({"means": np.zeros((2, 1))}, r"means has shape \[2, 1\]; expected \[2\]"),
        ({"stds": np.zeros(3)}, r"stds has shape \[3\]; expected \[2\]"),
        ({"features": np.array(["a", "b" * 300])}, "feature name 'bbb.* is 300 characters"),
        ({"sample": np.zeros((2001, 2), np.float32)}, "at most 2000 rows"),
    ],
    ids=["structured", "nested", "width", "long-name", "rows"],
)
def test_reference_profile_from_bytes_odd_arrays_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        ReferenceProfile.from_bytes(_profile_bytes(**changes))


def test_reference_profile_from_bytes_corrupted_bytes_raise_nothing_but_data_error() -> None:
    data = build_profile(_data(300), ["a", "b"]).to_bytes()
    rng = np.random.default_rng(11)
    for _ in range(500):
        raw = bytearray(data)
        for at in rng.integers(0, len(raw), size=rng.integers(1, 4)):
            raw[at] = rng.integers(0, 256)
        with contextlib.suppress(DataError):  # anything else fails the test
            ReferenceProfile.from_bytes(bytes(raw))
