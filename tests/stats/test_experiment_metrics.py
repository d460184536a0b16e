"""Metrics compute per-outcome values, and winners respect which direction is better."""

from __future__ import annotations

import pytest

from gateway.stats import (
    ABSOLUTE_ERROR,
    ACCURACY,
    METRICS,
    REWARD,
    SQUARED_ERROR,
    Moments,
    metric_named,
    sequential,
)


def test_metric_per_outcome_values() -> None:
    assert SQUARED_ERROR.per_outcome(3.0, 1.0) == 4.0
    assert ABSOLUTE_ERROR.per_outcome(1.0, 3.5) == 2.5
    assert ACCURACY.per_outcome(2.0, 2.0) == 1.0
    assert ACCURACY.per_outcome(2.0, 1.0) == 0.0
    assert REWARD.per_outcome(0.0, -12.5) == -12.5


def test_metric_directions_and_binary_flags() -> None:
    assert {m.name: (m.direction, m.binary) for m in METRICS.values()} == {
        "squared_error": (-1, False),
        "absolute_error": (-1, False),
        "accuracy": (1, True),
        "reward": (1, False),
    }


def test_metric_to_reward_negates_lower_is_better_metrics() -> None:
    assert SQUARED_ERROR.to_reward(4.0) == -4.0
    assert ABSOLUTE_ERROR.to_reward(0.5) == -0.5
    assert ACCURACY.to_reward(1.0) == 1.0
    assert REWARD.to_reward(-3.0) == -3.0


def test_metric_named_unknown_name_lists_valid_names() -> None:
    assert metric_named("reward") is REWARD
    with pytest.raises(ValueError, match="absolute_error, accuracy, reward, squared_error"):
        metric_named("rmse")


# treatment's mean metric is clearly higher than control's
HIGHER = (Moments(200, 1.0, 199.0), Moments(200, 1.5, 199.0))


def _called(metric, control: Moments, treatment: Moments) -> str:
    config = sequential.Config(direction=metric.direction)
    state = sequential.State.fresh()
    sequential.step(state, sequential.Arms.of(control, treatment), config)
    return {1: "treatment", -1: "control", 0: ""}[int(state.winner[0])]


@pytest.mark.parametrize(
    ("metric", "want"),
    [(REWARD, "treatment"), (ACCURACY, "treatment"), (SQUARED_ERROR, "control"),
     (ABSOLUTE_ERROR, "control")],
)  # fmt: skip
def test_winner_higher_treatment_metric_respects_direction(metric, want: str) -> None:
    assert _called(metric, *HIGHER) == want


@pytest.mark.parametrize("metric", list(METRICS.values()))
def test_winner_lower_treatment_metric_respects_direction(metric) -> None:
    want = "treatment" if metric.direction < 0 else "control"
    assert _called(metric, HIGHER[1], HIGHER[0]) == want


def test_winner_not_significant_is_none() -> None:
    assert _called(REWARD, Moments(30, 1.0, 29.0), Moments(30, 1.1, 29.0)) == ""
