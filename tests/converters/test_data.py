"""load_table reads CSV and NPZ tables and explains what is wrong with bad ones."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from converters import DataError, load_table


def _csv(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_table_csv_with_target_splits_features_and_labels(tmp_path: Path) -> None:
    path = _csv(tmp_path, "bid,ask,label\n1.5,2.5,0\n3,4,1\n,6e1,1\n")
    table = load_table(path, target="label")
    assert table.feature_names == ("bid", "ask")
    assert table.X.dtype == np.float64 and table.X.shape == (3, 2)
    np.testing.assert_array_equal(table.X[:2], [[1.5, 2.5], [3.0, 4.0]])
    assert np.isnan(table.X[2, 0]) and table.X[2, 1] == 60.0
    assert table.y.dtype == np.int64 and table.y.tolist() == [0, 1, 1]
    assert table.target == "label"


def test_load_table_csv_keeps_digits_float32_would_lose(tmp_path: Path) -> None:
    table = load_table(_csv(tmp_path, "price,y\n1000000000000.25,1\n0.1,0\n"), target="y")
    assert table.X[0, 0] == 1000000000000.25  # float32 would hold 999999995904.0
    assert table.X[1, 0] == 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_load_table_npz_keeps_float_precision_of_the_file(tmp_path: Path, dtype: type) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, X=np.array([[1, 2], [3, 4]], dtype=dtype))
    table = load_table(path)
    assert table.X.dtype == (np.float64 if dtype is np.int64 else dtype)
    np.testing.assert_array_equal(table.X, [[1, 2], [3, 4]])


def test_load_table_csv_without_target_uses_every_column(tmp_path: Path) -> None:
    table = load_table(_csv(tmp_path, "a,b\n1,2\n3,4\n"))
    assert table.feature_names == ("a", "b") and table.y is None


def test_load_table_csv_features_select_columns_in_given_order(tmp_path: Path) -> None:
    table = load_table(_csv(tmp_path, "a,b,c,y\n1,2,3,0.5\n"), target="y", features=["c", "a"])
    assert table.feature_names == ("c", "a")
    np.testing.assert_array_equal(table.X, [[3.0, 1.0]])
    assert table.y.dtype == np.float64 and table.y.tolist() == [0.5]


def test_load_table_csv_string_target_is_kept_as_strings(tmp_path: Path) -> None:
    table = load_table(_csv(tmp_path, "x,side\n1,buy\n2,sell\n"), target="side")
    assert table.y.tolist() == ["buy", "sell"]


def test_load_table_csv_missing_target_column_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no target column 'y'; columns are \['a', 'b'\]"):
        load_table(_csv(tmp_path, "a,b\n1,2\n"), target="y")


def test_load_table_csv_missing_feature_column_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"lacks feature columns \['z'\]"):
        load_table(_csv(tmp_path, "a,b\n1,2\n"), features=["a", "z"])


def test_load_table_csv_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,abc,1\n")
    with pytest.raises(
        DataError, match=r"line 3 \(data row 2\), column 'b': 'abc' is not a number"
    ):
        load_table(path, target="y")


def test_load_table_csv_missing_target_value_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 3 has no target value"):
        load_table(_csv(tmp_path, "a,y\n1,0\n2,\n"), target="y")


@pytest.mark.parametrize("text", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_load_table_csv_empty_file_raises(tmp_path: Path, text: str) -> None:
    with pytest.raises(DataError, match="is empty"):
        load_table(_csv(tmp_path, text))


def test_load_table_csv_header_only_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_table(_csv(tmp_path, "a,b\n"))


def test_load_table_csv_ragged_row_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 3 has 3 cells; the header has 2"):
        load_table(_csv(tmp_path, "a,b\n1,2\n1,2,3\n"))


def test_load_table_csv_duplicate_header_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="must name every column once"):
        load_table(_csv(tmp_path, "a,a\n1,2\n"))


def test_load_table_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read table"):
        load_table(tmp_path / "nope.csv")


def test_load_table_npz_reads_x_y_and_feature_names(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    X = np.arange(6, dtype=np.float64).reshape(3, 2)
    np.savez(path, X=X, y=np.array([0, 1, 0]), feature_names=np.array(["p", "q"]))
    table = load_table(path, target="label")
    assert table.feature_names == ("p", "q")
    np.testing.assert_array_equal(table.X, X)
    assert table.y.tolist() == [0, 1, 0]


def test_load_table_npz_target_column_taken_from_feature_names(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, X=np.array([[1.0, 2.0, 3.0]]), feature_names=np.array(["p", "q", "y"]))
    table = load_table(path, target="y")
    assert table.feature_names == ("p", "q") and table.y.tolist() == [3.0]


def test_load_table_npz_default_names_and_features_subset(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, X=np.array([[1.0, 2.0, 3.0]]))
    table = load_table(path, features=["f2", "f0"])
    assert table.feature_names == ("f2", "f0") and table.X.tolist() == [[3.0, 1.0]]


def test_load_table_npz_without_x_raises(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, data=np.zeros((2, 2)))
    with pytest.raises(DataError, match="has no array 'X'"):
        load_table(path)


def test_load_table_npz_missing_target_raises(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, X=np.zeros((2, 2)))
    with pytest.raises(DataError, match="no array 'y' and no column 'y'"):
        load_table(path, target="y")


def test_load_table_npz_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, X=np.array([[1, "a"]], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        load_table(path)


def test_load_table_csv_target_also_named_as_feature_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="target column 'y' cannot also be a feature"):
        load_table(_csv(tmp_path, "a,y\n1,0\n"), target="y", features=["a", "y"])


def test_load_table_csv_not_utf8_raises(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("prix,côté\n1,2\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        load_table(path)


def test_load_table_csv_only_separators_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        load_table(_csv(tmp_path, ",,\n , \n"))


def test_load_table_csv_oversized_field_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="malformed CSV"):
        load_table(_csv(tmp_path, "a,b\n1," + "9" * 200_000 + "\n"))


def test_load_table_npz_unreadable_array_raises(tmp_path: Path, unreadable_npz) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, X=np.zeros((2, 2)))
    path = tmp_path / "t.npz"
    path.write_bytes(unreadable_npz(buffer.getvalue(), "unknown-compression"))
    with pytest.raises(DataError, match=r"is not a readable \.npz"):
        load_table(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros(3)}, r"X is float64 \[3\]; expected numeric \[rows, features\]"),
        ({"X": np.zeros((0, 2))}, r"expected numeric \[rows, features\]"),
        (
            {"X": np.zeros((3, 2)), "feature_names": np.array(["a", "b", "c"])},
            "3 feature_names for 2 columns of X",
        ),
        ({"X": np.zeros((3, 2)), "y": np.zeros(2)}, "y has 2 values for 3 rows of X"),
    ],
    ids=["1-d", "no-rows", "names", "y"],
)
def test_load_table_npz_inconsistent_arrays_raise(
    tmp_path: Path, arrays: dict, message: str
) -> None:
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_table(path)


def test_load_table_wide_csv_missing_target_message_is_bounded(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(10_000))
    path = _csv(tmp_path, header + "\n" + ",".join("1" * 10_000) + "\n")
    with pytest.raises(DataError, match=r"columns are \['c0', .*and 9995 more\]") as err:
        load_table(path, target="y")
    assert len(str(err.value)) < 300
