"""Live windows keep the last rows in order, wrap around, and refuse rows of the wrong width."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import drift_window_bench
from gateway.drift import ErrorWindow, InputWindow


def _rows(start: int, n: int, width: int = 3) -> np.ndarray:
    return np.arange(start * width, (start + n) * width, dtype=np.float32).reshape(n, width)


def test_input_window_before_full_holds_rows_in_order() -> None:
    w = InputWindow(n_features=3, capacity=5)
    w.add(_rows(0, 2))
    w.add(_rows(2, 1))
    assert (w.count, w.size) == (3, 3)
    np.testing.assert_array_equal(w.values(), _rows(0, 3))


def test_input_window_empty_values_is_empty_with_its_width() -> None:
    w = InputWindow(n_features=3, capacity=5)
    assert (w.count, w.size, w.values().shape) == (0, 0, (0, 3))


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 7])
def test_input_window_wrap_around_keeps_the_last_capacity_rows_oldest_first(batch: int) -> None:
    w = InputWindow(n_features=3, capacity=5)
    seen = 0
    for _ in range(6):
        w.add(_rows(seen, batch))
        seen += batch
        held = min(seen, 5)
        assert (w.count, w.size) == (seen, held)
        np.testing.assert_array_equal(w.values(), _rows(seen - held, held))


def test_input_window_more_rows_than_capacity_keeps_the_last() -> None:
    w = InputWindow(n_features=3, capacity=4)
    w.add(_rows(0, 3))
    w.add(_rows(3, 10))
    assert (w.count, w.size) == (13, 4)
    np.testing.assert_array_equal(w.values(), _rows(9, 4))
    w.add(_rows(13, 1))  # and keeps wrapping from there
    np.testing.assert_array_equal(w.values(), _rows(10, 4))


def test_input_window_values_is_a_float32_copy() -> None:
    w = InputWindow(n_features=3, capacity=2)
    w.add(_rows(0, 3).astype(np.float64))
    values = w.values()
    assert values.dtype == np.float32 and values.shape == (2, 3)
    values[:] = -1.0
    np.testing.assert_array_equal(w.values(), _rows(1, 2))


def test_input_window_add_does_not_keep_a_reference_to_the_caller_array() -> None:
    w = InputWindow(n_features=3, capacity=4)
    x = _rows(0, 2)
    w.add(x)
    x[:] = 99.0
    np.testing.assert_array_equal(w.values(), _rows(0, 2))


@pytest.mark.parametrize("shape", [(2, 4), (2, 2), (6,), (1, 1, 3)])
def test_input_window_add_wrong_shape_raises_value_error(shape: tuple[int, ...]) -> None:
    w = InputWindow(n_features=3, capacity=4)
    with pytest.raises(ValueError, match=r"expected \[rows, 3\]"):
        w.add(np.zeros(shape, dtype=np.float32))
    assert w.count == 0


def test_input_window_clear_forgets_rows() -> None:
    w = InputWindow(n_features=3, capacity=2)
    w.add(_rows(0, 3))
    w.clear()
    w.add(_rows(7, 1))
    assert (w.count, w.size) == (1, 1)
    np.testing.assert_array_equal(w.values(), _rows(7, 1))


@pytest.mark.parametrize(("n_features", "capacity"), [(0, 4), (3, 0)])
def test_input_window_bad_dimensions_raise_value_error(n_features: int, capacity: int) -> None:
    with pytest.raises(ValueError):
        InputWindow(n_features, capacity)


def test_error_window_append_and_add_wrap_in_order() -> None:
    w = ErrorWindow(capacity=4)
    w.append(0.0)
    w.add(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert (w.count, w.size) == (6, 4)
    np.testing.assert_array_equal(w.values(), [2.0, 3.0, 4.0, 5.0])
    w.add(np.array([6.0, 7.0]))
    w.append(8.0)
    values = w.values()
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [5.0, 6.0, 7.0, 8.0])


def test_error_window_matches_a_list_of_the_last_values() -> None:
    rng = np.random.default_rng(3)
    w = ErrorWindow(capacity=7)
    everything: list[float] = []
    for _ in range(50):
        batch = rng.standard_normal(int(rng.integers(0, 10)))
        w.add(batch)
        everything.extend(batch.tolist())
        np.testing.assert_array_equal(w.values(), everything[-7:])
    assert w.count == len(everything)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_error_window_non_finite_error_raises_value_error(bad: float) -> None:
    w = ErrorWindow(capacity=4)
    with pytest.raises(ValueError, match="finite"):
        w.append(bad)
    with pytest.raises(ValueError, match="finite"):
        w.add(np.array([1.0, bad]))
    assert w.count == 0


def test_error_window_two_dimensional_batch_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"expected \[n\]"):
        ErrorWindow(capacity=4).add(np.zeros((2, 2)))


def test_input_window_random_batches_match_the_last_rows_of_everything() -> None:
    rng = np.random.default_rng(4)
    w = InputWindow(n_features=2, capacity=9)
    everything = np.empty((0, 2), dtype=np.float32)
    for _ in range(60):
        batch = rng.standard_normal((int(rng.integers(0, 13)), 2)).astype(np.float32)
        w.add(batch)
        everything = np.concatenate((everything, batch))
        np.testing.assert_array_equal(w.values(), everything[-9:])
    assert (w.count, w.size) == (everything.shape[0], 9)


def test_window_benchmark_prints_ns_per_add_of_1_and_64_rows(capsys) -> None:
    assert drift_window_bench.main(["--repeat", "20", "--rounds", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["n_features"] == 8
    assert figures["add_1_rows_ns"] > 0 and figures["add_64_rows_ns"] > 0  # no time bound
