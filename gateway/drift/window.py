"""Live windows of a served version: the last rows of inputs and of outcome errors.

Each window is a preallocated ring buffer. ``add`` copies a batch in with at most two
slice assignments (no Python loop over rows, no allocation), so it can sit on the Predict
path; reading the window back (``values``) allocates and belongs to the drift job. The
rows come from the Predict codecs, which have already refused NaN and infinity; the
detectors check again at their own edge.
"""

from __future__ import annotations

import math

import numpy as np


class InputWindow:
    """The last ``capacity`` input rows of ``n_features`` features (float32).

    >>> w = InputWindow(n_features=2, capacity=3)
    >>> w.add(np.arange(8, dtype=np.float32).reshape(4, 2))
    >>> w.count, w.size
    (4, 3)
    >>> w.values().tolist()
    [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    """

    __slots__ = ("_buffer", "_capacity", "_count", "_n_features", "_next")

    def __init__(self, n_features: int, capacity: int) -> None:
        if n_features < 1 or capacity < 1:
            raise ValueError(
                f"window needs n_features >= 1 and capacity >= 1, got {n_features}, {capacity}"
            )
        self._n_features = int(n_features)
        self._capacity = int(capacity)
        self._buffer = np.zeros((self._capacity, self._n_features), dtype=np.float32)
        self._next = 0  # the slot the next row goes to
        self._count = 0

    @property
    def n_features(self) -> int:
        """Width of every row."""
        return self._n_features

    @property
    def capacity(self) -> int:
        """The most rows held."""
        return self._capacity

    @property
    def count(self) -> int:
        """Rows added since the window was made, held or not."""
        return self._count

    @property
    def size(self) -> int:
        """Rows held now: ``min(count, capacity)``."""
        return min(self._count, self._capacity)

    def add(self, x: np.ndarray) -> None:
        """Copy the rows of ``x`` ([rows, n_features], float32) in; O(rows).

        With more rows than ``capacity``, only the last ``capacity`` are kept.
        Other float dtypes are converted by the slice assignment.

        Raises:
            ValueError: ``x`` is not two-dimensional with ``n_features`` columns.
        """
        try:
            rows, width = x.shape
        except ValueError:  # not two-dimensional
            width = -1
        if width != self._n_features:
            raise ValueError(
                f"window rows have shape {list(x.shape)}; expected [rows, {self._n_features}]"
            )
        # The common case first, with as few attribute reads as possible: this runs on
        # every Predict call.
        start = self._next
        end = start + rows
        capacity = self._capacity
        if end < capacity:
            self._buffer[start:end] = x
            self._next = end
        elif end == capacity:
            self._buffer[start:] = x
            self._next = 0
        elif rows < capacity:  # wraps: the head of x ends the ring, its tail starts it
            split = capacity - start
            buffer = self._buffer
            buffer[start:] = x[:split]
            buffer[: rows - split] = x[split:]
            self._next = rows - split
        else:  # more rows than the window holds: keep the last ``capacity``
            self._buffer[:] = x[rows - capacity :]
            self._next = 0
        self._count += rows

    def values(self) -> np.ndarray:
        """A copy of the held rows, oldest first ([size, n_features], float32)."""
        if self._count < self._capacity:
            return self._buffer[: self._count].copy()
        return np.concatenate((self._buffer[self._next :], self._buffer[: self._next]))

    def clear(self) -> None:
        """Forget every row (after a drift, or when the version changes)."""
        self._next = 0
        self._count = 0


class ErrorWindow:
    """The last ``capacity`` outcome errors of a version (float64 scalars).

    >>> w = ErrorWindow(capacity=3)
    >>> w.add(np.array([1.0, 2.0]))
    >>> w.append(3.0)
    >>> w.append(4.0)
    >>> w.count, w.size, w.values().tolist()
    (4, 3, [2.0, 3.0, 4.0])
    """

    __slots__ = ("_buffer", "_capacity", "_count", "_next")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"window needs capacity >= 1, got {capacity}")
        self._capacity = int(capacity)
        self._buffer = np.zeros(self._capacity, dtype=np.float64)
        self._next = 0
        self._count = 0

    @property
    def capacity(self) -> int:
        """The most errors held."""
        return self._capacity

    @property
    def count(self) -> int:
        """Errors added since the window was made, held or not."""
        return self._count

    @property
    def size(self) -> int:
        """Errors held now: ``min(count, capacity)``."""
        return min(self._count, self._capacity)

    def append(self, error: float) -> None:
        """Add one error; O(1).

        Raises:
            ValueError: ``error`` is NaN or infinite.
        """
        if not math.isfinite(error):
            raise ValueError(f"outcome error must be finite, got {error!r}")
        self._buffer[self._next] = error
        self._next = self._next + 1 if self._next + 1 < self._capacity else 0
        self._count += 1

    def add(self, errors: np.ndarray) -> None:
        """Copy a 1-D batch of errors in with at most two slice assignments; O(len).

        Raises:
            ValueError: ``errors`` is not one-dimensional, or holds NaN or infinity.
        """
        if errors.ndim != 1:
            raise ValueError(f"errors have shape {list(errors.shape)}; expected [n]")
        if not np.isfinite(errors).all():
            raise ValueError("outcome errors must be finite")
        n = errors.shape[0]
        start = self._next
        end = start + n
        capacity = self._capacity
        if end < capacity:
            self._buffer[start:end] = errors
            self._next = end
        elif end == capacity:
            self._buffer[start:] = errors
            self._next = 0
        elif n < capacity:
            split = capacity - start
            self._buffer[start:] = errors[:split]
            self._buffer[: n - split] = errors[split:]
            self._next = n - split
        else:
            self._buffer[:] = errors[n - capacity :]
            self._next = 0
        self._count += n

    def values(self) -> np.ndarray:
        """A copy of the held errors, oldest first (float64)."""
        if self._count < self._capacity:
            return self._buffer[: self._count].copy()
        return np.concatenate((self._buffer[self._next :], self._buffer[: self._next]))

    def clear(self) -> None:
        """Forget every error."""
        self._next = 0
        self._count = 0
