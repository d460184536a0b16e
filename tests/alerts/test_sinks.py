"""LogSink lines and FanOut isolation."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.alerts import AlertSink, FanOut, LogSink, WebhookSink
from registry.entities import Alert, AlertSeverity
from tests.alerts.conftest import Receiver, Sleeps, make_alert

_FIELDS = ("alert_id", "key", "kind", "severity", "model", "version", "count", "details")


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (AlertSeverity.INFO, logging.INFO),
        (AlertSeverity.WARNING, logging.WARNING),
        (AlertSeverity.CRITICAL, logging.ERROR),
    ],
)
async def test_log_sink_one_json_line_at_the_severity_level(
    severity: AlertSeverity, level: int, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    await LogSink().send(make_alert(4, severity=severity))

    [record] = caplog.records
    assert record.levelno == level
    expected = {
        "message": "data drift on btc 1.2.4: 2 of 5 features moved",
        "alert_id": 4,
        "key": "drift:data:btc:1.2.4",
        "kind": "drift",
        "severity": str(severity),
        "model": "btc",
        "version": "1.2.4",
        "count": 3,
        "details": {"psi": 0.31, "features": ["spread", "volume"]},
    }
    assert json.loads(record.getMessage()) == expected
    extra = {name: getattr(record, name) for name in _FIELDS}  # the record's extra
    assert json.loads(extra.pop("details")) == expected["details"]
    assert extra == {k: expected[k] for k in _FIELDS if k != "details"}


async def test_log_sink_line_formatted_by_a_handler_ends_in_the_json_object(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO)
    caplog.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    await LogSink().send(make_alert(details={"p": float("nan")}))

    [line] = caplog.text.splitlines()
    level, name, rest = line.split(" ", 2)
    assert (level, name) == ("WARNING", "gateway.alerts.sinks")
    assert json.loads(rest)["details"] == {"p": None}


async def test_log_sink_given_logger_used(caplog: pytest.LogCaptureFixture):
    await LogSink(logging.getLogger("ops.alerts")).send(make_alert())
    assert [r.name for r in caplog.records] == ["ops.alerts"]


class _Recording:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class _Broken:
    async def send(self, alert: Alert) -> None:
        raise RuntimeError("sink is broken")


async def test_fan_out_one_sink_raising_others_still_get_the_alert(
    receiver: Receiver, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    first, last = _Recording(), _Recording()
    webhook = WebhookSink(receiver.url(), sleep=sleeps)
    fan_out = FanOut([first, _Broken(), webhook, LogSink(), last])
    fan_out.start()
    alert = make_alert()
    await fan_out.send(alert)  # does not raise
    await fan_out.stop()

    assert first.alerts == [alert] and last.alerts == [alert]
    assert webhook.delivered == 1
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "_Broken" in error.getMessage() and "sink is broken" in error.getMessage()
    assert error.exc_info is not None


def test_sinks_satisfy_the_alert_sink_contract():
    sinks = [LogSink(), WebhookSink("https://example.com/hook"), FanOut([])]
    assert all(isinstance(s, AlertSink) for s in sinks)
