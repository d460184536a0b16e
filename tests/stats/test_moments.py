"""Welford running moments agree with numpy, merge like one pass, and round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.stats import Moments, RunningMoments


@pytest.mark.parametrize(
    ("loc", "scale", "size"), [(0.0, 1.0, 1000), (1e6, 1e-2, 5000), (-3.0, 250.0, 37)]
)
def test_running_moments_random_data_matches_numpy(loc: float, scale: float, size: int) -> None:
    """Including a large offset with small spread, where the naive Σx² − n·x̄² formula is
    300% off (float64 cancellation) and Welford stays within 1e-8."""
    x = np.random.default_rng(7).normal(loc, scale, size)
    acc = RunningMoments()
    for v in x:
        acc.update(float(v))
    assert acc.n == size
    assert acc.mean == pytest.approx(x.mean(), rel=1e-12, abs=1e-12)
    assert acc.variance == pytest.approx(
        x.var(ddof=1), rel=1e-7
    )  # numpy is two-pass; agreement is far below the noise


def test_running_moments_merge_in_any_order_matches_single_pass() -> None:
    x = np.random.default_rng(3).gamma(2.0, 3.0, 3000)
    chunks = np.split(x, [1, 500, 501, 2000])
    parts = [Moments.of(map(float, c)) for c in chunks]
    merged = Moments()
    for m in reversed(parts):
        merged = merged.merge(m)
    acc = RunningMoments.from_moments(parts[0])
    for m in parts[1:]:
        acc.merge(RunningMoments.from_moments(m))
    for got in (merged, acc.to_moments()):
        assert got.n == x.size
        assert got.mean == pytest.approx(x.mean(), rel=1e-12)
        assert got.variance == pytest.approx(x.var(ddof=1), rel=1e-10)


def test_running_moments_merge_with_empty_is_identity() -> None:
    m = Moments.of([1.0, 5.0, 2.0])
    assert m.merge(Moments()) == m
    assert Moments().merge(m) == m


def test_running_moments_persisted_record_continues_identically() -> None:
    values = [0.3, -1.2, 4.4, 2.0, 2.0, 9.5]
    full = RunningMoments()
    for v in values:
        full.update(v)
    half = RunningMoments()
    for v in values[:3]:
        half.update(v)
    resumed = RunningMoments.from_moments(half.to_moments())
    for v in values[3:]:
        resumed.update(v)
    assert resumed.to_moments() == full.to_moments()


def test_running_moments_fewer_than_two_values_variance_is_zero_not_nan() -> None:
    acc = RunningMoments()
    assert acc.variance == 0.0
    acc.update(3.0)
    assert (acc.n, acc.mean, acc.variance) == (1, 3.0, 0.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_running_moments_non_finite_value_is_rejected(bad: float) -> None:
    acc = RunningMoments()
    acc.update(1.0)
    with pytest.raises(ValueError, match="finite"):
        acc.update(bad)
    assert acc.to_moments() == Moments(1, 1.0, 0.0)


def test_moments_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="n >= 0"):
        Moments(-1, 0.0, 0.0)


@pytest.mark.parametrize("offset", [0.0, 1e7, 1e9])
def test_moments_up_to_the_fourth_are_exact_at_large_offsets(offset: float) -> None:
    """Batches merged Chan/Pébay-style and one value at a time both give the central
    sums of the offset-free values (multiples of 1/64 are exact near 1e9)."""
    rng = np.random.default_rng(11)
    small = np.round(rng.gamma(2.0, 1.0, 4000) * 64) / 64
    x = small + offset
    d = small - small.mean()
    expected = (small.mean() + offset, (d**2).sum(), (d**3).sum(), (d**4).sum())

    merged = Moments()
    for chunk in np.array_split(x, 37):
        merged = merged.merge(Moments.of(chunk))
    running = RunningMoments()
    for v in x:
        running.update(float(v))
    # Merged batches are exact to rounding; one value at a time, rounding drifts a little
    # (the mean by ~1e-6 at 1e9, a millionth of a standard deviation).
    for m, rel in ((merged, 1e-9), (Moments.of(x), 1e-9), (running.to_moments(), 1e-6)):
        assert m.mean == pytest.approx(expected[0], rel=rel * 1e-5)
        assert m.m2 == pytest.approx(expected[1], rel=rel)
        assert m.m3 == pytest.approx(expected[2], rel=100 * rel)
        assert m.m4 == pytest.approx(expected[3], rel=rel)
