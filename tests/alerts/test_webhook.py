"""WebhookSink against a real HTTP server: body, retries, Retry-After, give-up, queue, drain."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from gateway.alerts import WebhookSink
from gateway.prometheus import Metrics
from registry.entities import AlertSeverity
from tests.alerts.conftest import Receiver, Reply, Sleeps, make_alert


def _sink(url: str, sleeps: Sleeps, **kwargs: object) -> WebhookSink:
    options: dict = {"timeout": 2.0, "retries": 3, "backoff": 0.01, "sleep": sleeps}
    return WebhookSink(url, **(options | kwargs))


def _counts(sink: WebhookSink) -> tuple[int, int, int, int]:
    return sink.delivered, sink.retried, sink.failed, sink.dropped


async def test_send_posts_the_alert_as_one_json_object(receiver: Receiver, sleeps: Sleeps):
    sink = _sink(receiver.url("/hook?team=ml"), sleeps, headers={"X-Team": "ml"})
    sink.start()
    await sink.send(make_alert(7, severity=AlertSeverity.CRITICAL))
    await sink.stop()

    assert _counts(sink) == (1, 0, 0, 0)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook?team=ml")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "ml"
    assert "authorization" not in request.headers
    assert json.loads(request.body) == {
        "source": "galgate",
        "id": 7,
        "key": "drift:data:btc:1.2.7",
        "kind": "drift",
        "severity": "critical",
        "model": "btc",
        "version": "1.2.7",
        "message": "data drift on btc 1.2.7: 2 of 5 features moved",
        "details": {"psi": 0.31, "features": ["spread", "volume"]},
        "created_at": "2026-03-01T12:00:00.250000+00:00",
        "last_seen_at": "2026-03-01T12:05:00+00:00",
        "count": 3,
    }


async def test_send_details_not_json_numbers_sent_as_strict_json(
    receiver: Receiver, sleeps: Sleeps
):
    sink = _sink(receiver.url(), sleeps)
    sink.start()
    await sink.send(make_alert(details={"p": float("nan"), "psi": float("inf"), "n": (1, 2)}))
    await sink.stop()

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    body = json.loads(receiver.requests[0].body, parse_constant=refuse)
    assert body["details"] == {"p": None, "psi": None, "n": [1, 2]}


async def test_503_twice_then_ok_delivered_after_two_retries(receiver: Receiver, sleeps: Sleeps):
    receiver.replies = [Reply(503), Reply(503)]
    metrics = Metrics()
    sink = _sink(receiver.url(), sleeps, metrics=metrics)
    sink.start()
    await sink.send(make_alert())
    await sink.stop()

    assert _counts(sink) == (1, 2, 0, 0)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same alert each time
    assert sleeps == [0.01, 0.02]  # exponential backoff
    value = metrics.registry.get_sample_value
    assert value("galgate_alert_webhook_delivered_total") == 1
    assert value("galgate_alert_webhook_retries_total") == 2
    assert value("galgate_alert_webhook_failed_total") == 0
    assert value("galgate_alert_webhook_dropped_total") == 0


async def test_retry_after_seconds_honoured_capped_by_max_backoff(
    receiver: Receiver, sleeps: Sleeps
):
    receiver.replies = [
        Reply(503, {"Retry-After": "0.25"}),
        Reply(429, {"Retry-After": "120"}),
        Reply(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # a date: backoff
    ]
    sink = _sink(receiver.url(), sleeps, max_backoff=1.0)
    sink.start()
    await sink.send(make_alert())
    await sink.stop()

    assert _counts(sink) == (1, 3, 0, 0)
    assert sleeps == [0.25, 1.0, 0.04]


async def test_400_not_retried_counted_failed_logged_with_status(
    receiver: Receiver, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    receiver.replies = [Reply(400, body=b"invalid_payload: no text field")]
    sink = _sink(receiver.url(), sleeps)
    sink.start()
    await sink.send(make_alert(3))
    await sink.stop()

    assert _counts(sink) == (0, 0, 1, 0)
    assert len(receiver.requests) == 1
    assert sleeps == []
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "HTTP 400" in error.getMessage()
    assert "invalid_payload" in error.getMessage()
    assert "not retried" in error.getMessage()
    assert "drift:data:btc:1.2.3" in error.getMessage()


async def test_redirect_not_followed_counted_failed(receiver: Receiver, sleeps: Sleeps):
    receiver.replies = [Reply(302, {"Location": receiver.url("/elsewhere")})]
    sink = _sink(receiver.url(), sleeps)
    sink.start()
    await sink.send(make_alert())
    await sink.stop()

    assert _counts(sink) == (0, 0, 1, 0)
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_server_never_answers_times_out_retried_then_failed(
    silent_url: str, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    sink = _sink(silent_url, sleeps, timeout=0.1, retries=2)
    sink.start()
    await sink.send(make_alert())
    await sink.stop()

    assert _counts(sink) == (0, 2, 1, 0)
    assert sleeps == [0.01, 0.02]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "no response within 0.1 s" in error.getMessage()
    assert "gave up after 3 attempts" in error.getMessage()


async def test_connection_refused_retried_then_failed(
    dead_url: str, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    sink = _sink(dead_url, sleeps, retries=2)
    sink.start()
    await sink.send(make_alert())
    await sink.stop()

    assert _counts(sink) == (0, 2, 1, 0)
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "ConnectionRefusedError" in error.getMessage()


async def test_full_queue_drops_newest_counted_warned_once(
    receiver: Receiver, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    metrics = Metrics()
    sink = _sink(receiver.url(), sleeps, queue_size=2, metrics=metrics)
    for alert_id in range(1, 6):  # not started: nothing leaves the queue
        await sink.send(make_alert(alert_id))
    assert (sink.queued, sink.dropped) == (2, 3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "dropped" in warnings[0].getMessage()

    sink.start()
    await sink.stop()
    assert _counts(sink) == (2, 0, 0, 3)
    assert [json.loads(r.body)["id"] for r in receiver.requests] == [1, 2]
    assert metrics.registry.get_sample_value("galgate_alert_webhook_dropped_total") == 3


async def test_stop_drains_every_queued_alert_in_order(receiver: Receiver, sleeps: Sleeps):
    receiver.replies = [Reply(503)]  # the first one even needs a retry
    sink = _sink(receiver.url(), sleeps)
    sink.start()
    for alert_id in range(1, 21):
        await sink.send(make_alert(alert_id))
    await sink.stop()

    assert _counts(sink) == (20, 1, 0, 0)
    assert sink.queued == 0
    assert [json.loads(r.body)["id"] for r in receiver.requests] == [1, *range(1, 21)]


async def test_send_after_stop_dropped(receiver: Receiver, sleeps: Sleeps):
    sink = _sink(receiver.url(), sleeps)
    sink.start()
    await sink.stop()
    await sink.send(make_alert())
    assert _counts(sink) == (0, 0, 0, 1)
    assert receiver.requests == []


async def test_stop_unreachable_receiver_gives_up_after_timeout_counts_dropped(
    silent_url: str, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    sink = _sink(silent_url, sleeps, timeout=0.3)
    sink.start()
    for alert_id in range(1, 4):
        await sink.send(make_alert(alert_id))
    await sink.stop(timeout=0.05)

    assert sink.dropped == 3  # the one in flight and the two queued
    assert sink.queued == 0
    assert any("3 alerts not delivered at shutdown" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "127.0.0.1:8080/hook",
        "http:///hook",
        "http://127.0.0.1:99999/hook",
        "http://127.0.0.1:port/hook",
        "http://127.0.0.1/ho ok",
        "http://127.0.0.1/hook\r\nX-Injected: 1",
        "https://example.com/alërt",
    ],
)
def test_url_not_http_refused_at_construction(url: str):
    with pytest.raises(ValueError, match="webhook URL"):
        WebhookSink(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"Bad Name": "x"}},
        {"headers": {"X-Ok": "a\r\nX-Injected: 1"}},
        {"timeout": 0},
        {"retries": -1},
        {"queue_size": 0},
    ],
)
def test_bad_options_refused_at_construction(kwargs: dict):
    with pytest.raises(ValueError):
        WebhookSink("https://example.com/hook", **kwargs)


def test_url_errors_never_show_credentials():
    with pytest.raises(ValueError) as err:
        WebhookSink("ftp://bot:s3cret@example.com/hook?token=t0k3n")
    assert "s3cret" not in str(err.value)
    assert "t0k3n" not in str(err.value)
    assert "***@example.com" in str(err.value)


def test_credentials_in_url_and_authorization_header_refused():
    with pytest.raises(ValueError, match="Authorization"):
        WebhookSink("https://bot:s3cret@example.com/hook", headers={"Authorization": "x"})


async def test_url_credentials_sent_as_basic_auth_and_masked_in_every_log_line(
    receiver: Receiver, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    url = f"http://bot:s3cret@127.0.0.1:{receiver.port}/hook?token=t0k3n"
    receiver.replies = [Reply(503), Reply(401)]
    sink = _sink(url, sleeps, queue_size=1)
    sink.start()
    await sink.send(make_alert(1))
    await sink.stop()
    await sink.send(make_alert(2))  # dropped: logged too

    assert _counts(sink) == (0, 1, 1, 1)
    assert receiver.requests[0].path == "/hook?token=t0k3n"
    assert receiver.requests[0].headers["authorization"] == "Basic " + base64.b64encode(
        b"bot:s3cret"
    ).decode("ascii")
    assert sink.url == f"http://***@127.0.0.1:{receiver.port}/hook?token=***"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 3  # the retry, the give-up, the drop
    assert all(sink.url in line for line in lines)
    assert not [line for line in lines if "s3cret" in line or "t0k3n" in line]
