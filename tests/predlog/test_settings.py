"""Prediction log settings: defaults, environment, and validation at startup."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, Settings


def test_settings_defaults_bounded_drop_policy():
    settings = Settings()
    assert (settings.predlog_queue_size, settings.predlog_batch_size) == (100_000, 500)
    assert (settings.predlog_flush_interval, settings.outcome_wait) == (0.2, 1.0)
    assert settings.predlog_full_policy == "drop"


def test_settings_from_env_predlog_variables_parsed():
    settings = Settings.from_env(
        {
            "GALGATE_PREDLOG_QUEUE_SIZE": "10",
            "GALGATE_PREDLOG_FLUSH_INTERVAL": "0.5",
            "GALGATE_PREDLOG_FULL_POLICY": "reject",
            "GALGATE_OUTCOME_WAIT": "2",
        }
    )
    assert settings.predlog_queue_size == 10
    assert settings.predlog_flush_interval == 0.5
    assert settings.predlog_full_policy == "reject"
    assert settings.outcome_wait == 2.0


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("predlog_full_policy", "block", "predlog_full_policy"),
        ("predlog_queue_size", 0, "predlog_queue_size"),
        ("predlog_batch_size", 0, "predlog_batch_size"),
        ("predlog_flush_interval", 0.0, "predlog_flush_interval"),
        ("outcome_wait", -1.0, "outcome_wait"),
        ("predlog_drain_timeout", -1.0, "predlog_drain_timeout"),
        ("sqlite_synchronous", "OFF", "sqlite_synchronous"),
        ("prediction_retention_hours", -1.0, "prediction_retention_hours"),
        ("prediction_retention_hours", 1e300, "prediction_retention_hours"),
        ("prediction_retention_hours", float("nan"), "prediction_retention_hours"),
        ("retention_interval", 0.0, "retention_interval"),
        ("poll_interval", float("nan"), "poll_interval must be a finite number"),
        ("grace_seconds", float("inf"), "grace_seconds must be a finite number"),
    ],
)
def test_settings_invalid_predlog_value_config_error(field, value, named):
    with pytest.raises(ConfigError, match=named):
        Settings(**{field: value})


@pytest.mark.parametrize(
    ("raw", "expected"), [("on", True), ("1", True), ("TRUE", True), ("off", False), ("0", False)]
)
def test_settings_prediction_log_switch_parsed(raw, expected):
    assert Settings.from_env({"GALGATE_PREDICTION_LOG": raw}).prediction_log is expected


def test_settings_unclear_switch_is_an_error_not_off():
    with pytest.raises(ConfigError, match="GALGATE_PREDICTION_LOG='enabled'"):
        Settings.from_env({"GALGATE_PREDICTION_LOG": "enabled"})
