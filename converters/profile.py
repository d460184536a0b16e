"""Reference profile of a version's training features, the baseline for drift detection."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from converters.data import read_npz
from converters.errors import DataError

PROFILE_FORMAT = 1
N_QUANTILES = 101  # the 0th..100th percentiles
_ARRAYS = ("format", "features", "n_rows", "n_dropped", "quantiles", "means", "stds", "sample")


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
        if sample.ndim != 2 or sample.shape[1] != width:
            raise DataError(
                f"profile sample has shape {list(sample.shape)}; expected [rows, {width}]"
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
        """Read ``to_bytes`` output with ``allow_pickle=False``; DataError when malformed."""
        arrays = read_npz(bytes(data), "profile", _ARRAYS)
        try:
            return cls._from_arrays(arrays)
        except DataError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. int() of an array
            raise DataError(f"profile arrays are malformed: {exc}") from None

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> ReferenceProfile:
        if arrays["format"].shape != () or int(arrays["format"]) != PROFILE_FORMAT:
            raise DataError(f"profile format {arrays['format'].tolist()!r} is not {PROFILE_FORMAT}")
        if arrays["features"].dtype.kind != "U" or arrays["features"].ndim != 1:
            raise DataError("profile features must be a 1-d unicode string array")
        for name in ("quantiles", "means", "stds", "sample"):
            if arrays[name].dtype.kind != "f":
                raise DataError(f"profile {name} must be a float array, got {arrays[name].dtype}")
        return cls(
            features=tuple(arrays["features"].tolist()),
            n_rows=int(arrays["n_rows"]),
            quantiles=arrays["quantiles"],
            means=arrays["means"],
            stds=arrays["stds"],
            sample=arrays["sample"],
            n_dropped=int(arrays["n_dropped"]),
        )


def build_profile(
    X: np.ndarray, features: Sequence[str], *, max_sample: int = 2000, seed: int = 0
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
    if max_sample < 1:
        raise DataError(f"max_sample must be >= 1, got {max_sample}")
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
