"""Reference profile of a version's training features, the baseline for drift detection."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from converters.errors import DataError
from converters.limits import MAX_FEATURES, MAX_NAME_CHARS, too_long, too_many
from converters.npz import MAX_HEADER_BYTES, BoundedNpz

PROFILE_FORMAT = 1
N_QUANTILES = 101  # the 0th..100th percentiles
#: rows kept in ``sample``: ``build_profile``'s default and the most ``from_bytes`` reads.
#: KS on 2000 reference rows resolves a shift of ~0.05 standard deviations.
MAX_SAMPLE_ROWS = 2000
_ARRAYS = ("format", "features", "n_rows", "n_dropped", "quantiles", "means", "stds", "sample")
#: bytes of array data a profile holds per feature: the float64 quantiles, mean and std,
#: a float32 column of the sample, and the name (numpy stores 4 bytes per character).
_BYTES_PER_FEATURE = N_QUANTILES * 8 + 2 * 8 + MAX_SAMPLE_ROWS * 4 + 4 * MAX_NAME_CHARS
#: the three int64 scalars plus every member's .npy header, at its largest.
_FIXED_BYTES = 3 * 8 + len(_ARRAYS) * MAX_HEADER_BYTES
#: what ``from_bytes`` inflates at most: a profile of ``MAX_FEATURES`` features with the
#: longest names and a full sample (about 40 MB). Once the names are read, each other
#: array is held to what its shape needs for that many features.
MAX_PROFILE_BYTES = MAX_FEATURES * _BYTES_PER_FEATURE + _FIXED_BYTES


def _frozen(array: object, dtype: type) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceProfile:
    """Per-feature summary of the rows a model was trained on.

    ``n_rows`` counts the rows profiled; ``n_dropped`` the rows left out because they
    held NaN or infinity. ``quantiles[f, q]`` is the q-th percentile of feature f
    (float64 [F, 101]); ``means``/``stds`` are float64 [F] (population std);
    ``sample`` is a seeded random subset of the profiled rows (float32 [<=2000, F])
    for two-sample tests such as KS. Arrays are read-only.
    """

    features: tuple[str, ...]
    n_rows: int
    quantiles: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    sample: np.ndarray
    n_dropped: int = 0

    def __post_init__(self) -> None:
        features = tuple(str(f) for f in self.features)
        width = len(features)
        problems = (too_long("feature name", f) for f in features)
        problem = too_many("features", width, MAX_FEATURES) or next(filter(None, problems), None)
        if problem:
            raise DataError(f"profile {problem}")
        quantiles = _frozen(self.quantiles, np.float64)
        means = _frozen(self.means, np.float64)
        stds = _frozen(self.stds, np.float64)
        sample = _frozen(self.sample, np.float32)
        shapes = {
            "quantiles": (quantiles.shape, (width, N_QUANTILES)),
            "means": (means.shape, (width,)),
            "stds": (stds.shape, (width,)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise DataError(f"profile {name} has shape {list(got)}; expected {list(want)}")
        if sample.ndim != 2 or sample.shape[1] != width or sample.shape[0] > MAX_SAMPLE_ROWS:
            raise DataError(
                f"profile sample has shape {list(sample.shape)}; expected [rows, {width}] "
                f"with at most {MAX_SAMPLE_ROWS} rows"
            )
        if int(self.n_rows) < 0 or int(self.n_dropped) < 0:
            raise DataError("profile row counts must be >= 0")
        values = {
            "features": features,
            "n_rows": int(self.n_rows),
            "n_dropped": int(self.n_dropped),
            "quantiles": quantiles,
            "means": means,
            "stds": stds,
            "sample": sample,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReferenceProfile):
            return NotImplemented
        return (
            self.features == other.features
            and self.n_rows == other.n_rows
            and self.n_dropped == other.n_dropped
            and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("quantiles", "means", "stds", "sample")
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def to_bytes(self) -> bytes:
        """A compressed ``.npz`` of plain numeric and unicode arrays (nothing pickled)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(PROFILE_FORMAT, dtype=np.int64),
            features=np.array(self.features, dtype=np.str_).reshape(-1),
            n_rows=np.array(self.n_rows, dtype=np.int64),
            n_dropped=np.array(self.n_dropped, dtype=np.int64),
            quantiles=self.quantiles,
            means=self.means,
            stds=self.stds,
            sample=self.sample,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Read ``to_bytes`` output from an untrusted source; DataError when malformed.

        Nothing is unpickled, and nothing is inflated beyond what a profile of its
        features needs (at most ``MAX_PROFILE_BYTES``): the zip directory's declared
        sizes are checked before any member is opened, each array's dtype and shape
        before its data is read, and the data is read with a hard byte limit.
        """
        with BoundedNpz(bytes(data), "profile", names=_ARRAYS, max_bytes=MAX_PROFILE_BYTES) as npz:
            return cls._from_npz(npz)

    @classmethod
    def _from_npz(cls, npz: BoundedNpz) -> ReferenceProfile:
        def scalar(name: str) -> int:
            return int(npz.read(name, kinds="iu", shape=(), max_bytes=8))

        if (fmt := scalar("format")) != PROFILE_FORMAT:
            raise DataError(f"profile format {fmt} is not {PROFILE_FORMAT}")
        names = npz.read(
            "features",
            kinds="U",
            shape=("n_features",),
            max_bytes=MAX_FEATURES * 4 * MAX_NAME_CHARS,
        )
        width = len(names)
        floats = {"quantiles": (width, N_QUANTILES), "means": (width,), "stds": (width,)}
        arrays = {
            name: npz.read(name, kinds="f", shape=shape, max_bytes=8 * math.prod(shape))
            for name, shape in floats.items()
        }
        sample = npz.read(
            "sample", kinds="f", shape=("rows", width), max_bytes=8 * MAX_SAMPLE_ROWS * width
        )
        return cls(
            features=tuple(names.tolist()),
            n_rows=scalar("n_rows"),
            n_dropped=scalar("n_dropped"),
            sample=sample,
            **arrays,
        )


def build_profile(
    X: np.ndarray, features: Sequence[str], *, max_sample: int = MAX_SAMPLE_ROWS, seed: int = 0
) -> ReferenceProfile:
    """Profile the rows of ``X`` (columns named by ``features``).

    Rows holding NaN or infinity are left out and counted in ``n_dropped``.

    >>> p = build_profile(np.array([[1.0], [np.nan], [3.0]]), ["x"])
    >>> p.n_rows, p.n_dropped, float(p.quantiles[0, 50]), float(p.means[0])
    (2, 1, 2.0, 2.0)
    """
    names = tuple(str(f) for f in features)
    try:
        data = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"profile data is not numeric: {exc}") from None
    if data.ndim != 2 or data.shape[1] != len(names):
        raise DataError(f"profile data has shape {list(data.shape)}; expected [rows, {len(names)}]")
    finite = np.isfinite(data).all(axis=1)
    kept = data[finite]
    if kept.shape[0] == 0:
        raise DataError(f"no rows without NaN/infinity to profile (of {data.shape[0]} rows)")
    if not 1 <= max_sample <= MAX_SAMPLE_ROWS:
        raise DataError(f"max_sample must be in [1, {MAX_SAMPLE_ROWS}], got {max_sample}")
    if kept.shape[0] > max_sample:
        rows = np.sort(np.random.default_rng(seed).choice(kept.shape[0], max_sample, replace=False))
        sample = kept[rows]
    else:
        sample = kept
    return ReferenceProfile(
        features=names,
        n_rows=int(kept.shape[0]),
        quantiles=np.quantile(kept, np.linspace(0.0, 1.0, N_QUANTILES), axis=0).T,
        means=kept.mean(axis=0),
        stds=kept.std(axis=0),
        sample=sample.astype(np.float32),
        n_dropped=int(data.shape[0] - kept.shape[0]),
    )
