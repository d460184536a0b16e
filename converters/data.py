"""Read a feature table (CSV with a header row, or NPZ) into X, optional y and feature names."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.errors import DataError
from converters.limits import preview

_MISSING = {"", "na", "nan", "null", "none"}


@dataclass(frozen=True, slots=True)
class Table:
    """Features ``X`` ([N, F], NaN where a CSV cell was empty), target ``y`` (int64 when
    every value is an integer, else float64, else str; None without a target) and the
    feature names in column order.

    ``X`` keeps the precision of the file: float64 for CSV text, the array's own dtype
    for an NPZ float32 or float64 ``X`` (float64 for integers). It is not cast to the
    float32 the gateway serves, so a parity check on it can see what that cast loses.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: tuple[str, ...]
    target: str | None = None


def load_table(
    path: str | Path, *, target: str | None = None, features: Sequence[str] | None = None
) -> Table:
    """Load a table from ``path`` (``.npz`` by extension or zip signature, else CSV).

    Args:
        path: the file.
        target: CSV: name of the target column. NPZ: the target is array ``y``, or the
            column of that name in ``feature_names``.
        features: columns to use as features, in this order (default: every column
            but the target).

    Returns:
        The table.

    Raises:
        DataError: missing file, empty file, missing target/feature columns, non-numeric
        cells (naming row and column), ragged rows.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read table {str(file)!r}: {exc.strerror or exc}") from None
    if not raw.strip():
        raise DataError(f"table {str(file)!r} is empty; expected a header row and data rows")
    if file.suffix.lower() == ".npz" or raw[:4] == b"PK\x03\x04":
        return _load_npz(raw, file, target, features)
    return _load_csv(raw, file, target, features)


def _read_npz(raw: bytes, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` table ``raw``, never unpickled.

    A table is the operator's own file, of any size, so it is read with ``np.load``;
    uploads from clients (reference profiles) go through ``converters.npz`` instead.
    """
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # zipfile, zlib and numpy's header parser raise a dozen types
        raise DataError(f"{what} is not a readable .npz (no pickled objects): {exc}") from None


def _select(
    columns: Sequence[str], target: str | None, features: Sequence[str] | None, where: str
) -> list[int]:
    if target is not None and target not in columns:
        raise DataError(f"{where} has no target column {target!r}; columns are {preview(columns)}")
    if features is None:
        return [i for i, c in enumerate(columns) if c != target]
    wanted = [str(f) for f in features]
    missing = [f for f in wanted if f not in columns]
    if missing:
        raise DataError(
            f"{where} lacks feature columns {preview(missing)}; columns are {preview(columns)}"
        )
    if target is not None and target in wanted:
        raise DataError(f"target column {target!r} cannot also be a feature")
    return [list(columns).index(f) for f in wanted]


def _target_array(values: Sequence[tuple[int, str]], where: str) -> np.ndarray:
    cleaned = [v.strip() for _, v in values]
    for (line, _), value in zip(values, cleaned, strict=True):
        if value.lower() in _MISSING:
            raise DataError(f"{where}: line {line} has no target value")
    try:
        numbers = np.array([float(v) for v in cleaned], dtype=np.float64)
    except ValueError:
        return np.array(cleaned, dtype=np.str_)
    if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return numbers


def _load_csv(raw: bytes, file: Path, target: str | None, features: Sequence[str] | None) -> Table:
    where = f"table {str(file)!r}"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise DataError(f"{where}: malformed CSV at line {reader.line_num}: {exc}") from None
    if not rows:
        raise DataError(f"{where} is empty; expected a header row and data rows")
    header = [c.strip() for c in rows[0][1]]
    if any(not c for c in header) or len(set(header)) != len(header):
        raise DataError(f"{where}: header {preview(header)} must name every column once")
    body = rows[1:]
    if not body:
        raise DataError(f"{where} has a header but no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(
                f"{where}: line {line} has {len(row)} cells; the header has {len(header)}"
            )
    chosen = _select(header, target, features, where)
    X = np.empty((len(body), len(chosen)), dtype=np.float64)
    for r, (line, row) in enumerate(body):
        for c, col in enumerate(chosen):
            cell = row[col].strip()
            if cell.lower() in _MISSING:
                X[r, c] = np.nan
                continue
            try:
                X[r, c] = float(cell)
            except ValueError:
                raise DataError(
                    f"{where}: line {line} (data row {r + 1}), column {header[col]!r}: "
                    f"{cell!r} is not a number"
                ) from None
    y = None
    if target is not None:
        column = header.index(target)
        y = _target_array([(line, row[column]) for line, row in body], where)
    return Table(X, y, tuple(header[c] for c in chosen), target)


def _load_npz(raw: bytes, file: Path, target: str | None, features: Sequence[str] | None) -> Table:
    where = f"table {str(file)!r}"
    arrays = _read_npz(raw, where)
    if "X" not in arrays:
        raise DataError(f"{where} has no array 'X'; arrays are {preview(sorted(arrays))}")
    X = arrays["X"]
    if X.ndim != 2 or X.dtype.kind not in "biuf" or X.shape[0] == 0:
        raise DataError(
            f"{where}: X is {X.dtype} {list(X.shape)}; expected numeric [rows, features]"
        )
    if "feature_names" in arrays:
        names = [str(n) for n in arrays["feature_names"].reshape(-1).tolist()]
        if len(names) != X.shape[1]:
            raise DataError(f"{where}: {len(names)} feature_names for {X.shape[1]} columns of X")
    else:
        names = [f"f{i}" for i in range(X.shape[1])]
    y = arrays.get("y")
    if target is not None and y is None and target in names:
        y = X[:, names.index(target)]
        chosen = _select(names, target, features, where)
    else:
        if target is not None and y is None:
            raise DataError(f"{where} has no array 'y' and no column {target!r}")
        chosen = _select(names, None, features, where)
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise DataError(f"{where}: y has {y.shape[0]} values for {X.shape[0]} rows of X")
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    return Table(
        np.ascontiguousarray(X[:, chosen], dtype=dtype),
        y,
        tuple(names[c] for c in chosen),
        target,
    )
