"""Alerts: raise, fold within the cooldown, open anew after it or after acknowledgement,
list, acknowledge, the checks at the edge, and racing gateways opening one alert once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registry import (
    Alert,
    AlertNotFoundError,
    AlertSeverity,
    InvalidArgumentError,
    Registry,
)
from tests.helpers import execute_sql, race

HOUR = timedelta(hours=1)
ZERO = timedelta(0)
RACERS = 8


async def _raise(registry: Registry, key: str = "drift:data:m:1.0.0", **kw: Any):
    fields: dict[str, Any] = {
        "kind": "drift",
        "severity": AlertSeverity.WARNING,
        "message": "feature f0 drifted",
        "model": "m",
        "version": "1.0.0",
        "details": {"psi": 0.31},
        "cooldown": HOUR,
    }
    fields.update(kw)
    return await registry.raise_alert(
        key, fields.pop("kind"), fields.pop("severity"), fields.pop("message"), **fields
    )


async def _events(registry: Registry, kind: str) -> list:
    return [e for e in await registry.events_since(0) if e.kind == kind]


async def age_alert(db_url: str, alert_id: int, by: timedelta) -> None:
    """Move an alert's last sighting ``by`` into the past, behind the registry's back."""
    at = datetime.now(UTC) - by
    # SQLite keeps UTC text in SQLAlchemy's format; PostgreSQL a timestamptz.
    value: Any = at.strftime("%Y-%m-%d %H:%M:%S.%f") if db_url.startswith("sqlite") else at
    await execute_sql(
        db_url, "UPDATE alerts SET last_seen_at = :at WHERE id = :id", {"at": value, "id": alert_id}
    )


async def test_raise_alert_new_key_opens_alert_and_writes_event(registry: Registry) -> None:
    before = datetime.now(UTC)

    alert, new = await _raise(registry)

    assert new is True
    assert alert.id >= 1
    assert (alert.key, alert.kind, alert.severity) == (
        "drift:data:m:1.0.0",
        "drift",
        AlertSeverity.WARNING,
    )
    assert (alert.model, alert.version, alert.message) == ("m", "1.0.0", "feature f0 drifted")
    assert alert.details == {"psi": 0.31}
    assert alert.count == 1
    assert alert.created_at == alert.last_seen_at
    assert alert.created_at.tzinfo is not None and alert.created_at >= before
    assert (alert.acknowledged_at, alert.acknowledged_by, alert.acknowledgement) == (None, "", "")
    assert await registry.get_alert(alert.id) == alert
    [event] = await _events(registry, "alert_raised")
    assert (event.name, event.version) == ("m", "1.0.0")
    assert event.payload == {
        "id": alert.id,
        "key": alert.key,
        "kind": "drift",
        "severity": "warning",
    }


async def test_raise_alert_model_need_not_be_registered_nor_given(registry: Registry) -> None:
    alert, new = await _raise(registry, key="router", model="", version="", details=None)

    assert new and (alert.model, alert.version, alert.details) == ("", "", {})


async def test_raise_alert_within_cooldown_folds_into_open_alert(registry: Registry) -> None:
    first, _ = await _raise(registry)

    again, new = await _raise(registry, message="f0 and f1 drifted", details={"psi": 0.5})

    assert new is False
    assert again.id == first.id
    assert again.count == 2
    assert again.created_at == first.created_at
    assert again.last_seen_at > first.last_seen_at
    assert (again.message, again.details) == ("f0 and f1 drifted", {"psi": 0.5})
    assert await registry.get_alert(first.id) == again
    assert len(await registry.list_alerts()) == 1
    assert len(await _events(registry, "alert_raised")) == 1  # a repeat is not news


async def test_raise_alert_fold_keeps_most_urgent_severity(registry: Registry) -> None:
    first, _ = await _raise(registry, severity="warning")

    up, _ = await _raise(registry, severity=AlertSeverity.CRITICAL)
    down, new = await _raise(registry, severity=AlertSeverity.INFO)

    assert up.id == down.id == first.id and new is False
    assert up.severity is AlertSeverity.CRITICAL
    assert down.severity is AlertSeverity.CRITICAL
    assert down.count == 3


async def test_raise_alert_after_cooldown_opens_new_alert(registry: Registry) -> None:
    first, _ = await _raise(registry)

    second, new = await _raise(registry, cooldown=ZERO)

    assert new is True and second.id > first.id and second.count == 1
    # The stale one stays as it was; repeats now fold into the newest.
    assert await registry.get_alert(first.id) == first
    third, new = await _raise(registry, cooldown=HOUR)
    assert new is False and third.id == second.id and third.count == 2
    assert (await registry.get_alert(first.id)).count == 1
    assert len(await _events(registry, "alert_raised")) == 2


async def test_raise_alert_last_seen_long_ago_opens_new_alert(
    registry: Registry, db_url: str
) -> None:
    first, _ = await _raise(registry)
    await age_alert(db_url, first.id, 2 * HOUR)

    second, new = await _raise(registry, cooldown=HOUR)

    assert new is True and second.id != first.id
    assert (await _raise(registry, cooldown=3 * HOUR))[0].id == second.id


async def test_raise_alert_after_acknowledgement_opens_new_alert(registry: Registry) -> None:
    first, _ = await _raise(registry)
    acked = await registry.acknowledge_alert(first.id, actor="ops", note="looking")

    second, new = await _raise(registry)

    assert new is True and second.id != first.id and second.count == 1
    assert await registry.get_alert(first.id) == acked
    assert (await _raise(registry))[0].id == second.id


async def test_raise_alert_other_key_never_folds(registry: Registry) -> None:
    a, _ = await _raise(registry, key="a")
    b, new = await _raise(registry, key="b")

    assert new is True and a.id != b.id


async def test_acknowledge_alert_records_who_when_and_note(registry: Registry) -> None:
    alert, _ = await _raise(registry)
    before = datetime.now(UTC)

    acked = await registry.acknowledge_alert(alert.id, actor="alice", note="retraining")

    assert acked.acknowledged_by == "alice"
    assert acked.acknowledgement == "retraining"
    assert acked.acknowledged_at is not None and acked.acknowledged_at >= before
    assert (acked.count, acked.message) == (alert.count, alert.message)
    assert await registry.get_alert(alert.id) == acked
    [event] = await _events(registry, "alert_acknowledged")
    assert event.payload == {"id": alert.id, "key": alert.key, "by": "alice"}


async def test_acknowledge_alert_twice_keeps_first_acknowledgement(registry: Registry) -> None:
    alert, _ = await _raise(registry)
    first = await registry.acknowledge_alert(alert.id, actor="alice", note="mine")

    again = await registry.acknowledge_alert(alert.id, actor="bob", note="no, mine")

    assert again == first
    assert len(await _events(registry, "alert_acknowledged")) == 1


@pytest.mark.parametrize("alert_id", [999, 0, -1, 2**63], ids=["unknown", "zero", "neg", "big"])
async def test_alert_unknown_id_raises_not_found(registry: Registry, alert_id: int) -> None:
    with pytest.raises(AlertNotFoundError) as err:
        await registry.get_alert(alert_id)
    assert err.value.alert_id == alert_id
    with pytest.raises(AlertNotFoundError, match=f"alert {alert_id} does not exist"):
        await registry.acknowledge_alert(alert_id, actor="ops")


@pytest.mark.parametrize("alert_id", ["1", 1.0, True, None])
async def test_alert_id_not_an_integer_raises_invalid_argument(
    registry: Registry, alert_id: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="id must be an integer"):
        await registry.get_alert(alert_id)


@pytest.mark.parametrize(
    ("actor", "note", "match"),
    [("", "", "actor must name"), ("x" * 257, "", "actor has 257"), ("ops", "n" * 2001, "2001")],
    ids=["empty-actor", "long-actor", "long-note"],
)
async def test_acknowledge_alert_bad_actor_or_note_changes_nothing(
    registry: Registry, actor: str, note: str, match: str
) -> None:
    alert, _ = await _raise(registry)

    with pytest.raises(InvalidArgumentError, match=match):
        await registry.acknowledge_alert(alert.id, actor=actor, note=note)

    assert await registry.get_alert(alert.id) == alert


_BAD_RAISES = {
    "empty-key": ({"key": ""}, "must not be empty"),
    "long-key": ({"key": "k" * 201}, "201 characters"),
    "key-not-str": ({"key": 7}, "must be a string"),
    "bad-kind": ({"kind": "Data-Drift"}, "invalid alert kind"),
    "long-kind": ({"kind": "k" * 33}, "invalid alert kind"),
    "bad-severity": ({"severity": "urgent"}, "unknown alert severity 'urgent'"),
    "long-message": ({"message": "m" * 2001}, "2001 characters"),
    "long-model": ({"model": "m" * 129}, "model has 129"),
    "version-no-model": ({"model": "", "version": "1.0.0"}, "without the model"),
    "details-list": ({"details": [1, 2]}, "must be a JSON object"),
    "details-nan": ({"details": {"p": float("nan")}}, "finite numbers"),
    "details-object": ({"details": {"p": object()}}, "JSON-serializable"),
    "details-int-key": ({"details": {1: "a"}}, "string keys"),
    "details-big": ({"details": {"x": "y" * 256 * 1024}}, "at most 262144"),
    "negative-cooldown": ({"cooldown": timedelta(seconds=-1)}, "cooldown must be a timedelta"),
    "cooldown-seconds": ({"cooldown": 60}, "cooldown must be a timedelta"),
}


@pytest.mark.parametrize(("change", "match"), _BAD_RAISES.values(), ids=_BAD_RAISES.keys())
async def test_raise_alert_bad_value_raises_invalid_argument_and_writes_nothing(
    registry: Registry, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        await _raise(registry, **change)

    assert await registry.list_alerts() == []
    assert await registry.last_event_id() == 0


async def test_raise_alert_texts_at_their_bounds_are_stored(registry: Registry) -> None:
    alert, _ = await _raise(
        registry, key="k" * 200, kind="k" * 32, message="m" * 2000, details={"x": "y" * 200_000}
    )

    stored = await registry.get_alert(alert.id)
    assert (len(stored.key), len(stored.kind), len(stored.message)) == (200, 32, 2000)
    assert stored.details == {"x": "y" * 200_000}


async def test_list_alerts_newest_first_with_filters(registry: Registry) -> None:
    a, _ = await _raise(registry, key="a", model="m", severity="critical")
    b, _ = await _raise(registry, key="b", model="n", severity="warning")
    c, _ = await _raise(registry, key="c", model="m", severity="warning")
    await registry.acknowledge_alert(c.id, actor="ops")
    d, _ = await _raise(registry, key="d", model="", version="", severity="info")

    def ids(alerts: list[Alert]) -> list[int]:
        return [x.id for x in alerts]

    assert ids(await registry.list_alerts()) == [d.id, c.id, b.id, a.id]
    assert ids(await registry.list_alerts(open_only=True)) == [d.id, b.id, a.id]
    assert ids(await registry.list_alerts(model="m")) == [c.id, a.id]
    assert ids(await registry.list_alerts(model="")) == [d.id]
    assert ids(await registry.list_alerts(model="unknown")) == []
    assert ids(await registry.list_alerts(severity="warning")) == [c.id, b.id]
    assert ids(await registry.list_alerts(severity=AlertSeverity.CRITICAL)) == [a.id]
    assert ids(await registry.list_alerts(model="m", open_only=True)) == [a.id]


async def test_list_alerts_pages_by_id(registry: Registry) -> None:
    raised = [(await _raise(registry, key=f"k{i}"))[0].id for i in range(5)]

    first = await registry.list_alerts(limit=2)
    second = await registry.list_alerts(limit=2, before_id=first[-1].id)
    third = await registry.list_alerts(limit=2, before_id=second[-1].id)

    assert [x.id for x in first + second + third] == raised[::-1]
    assert await registry.list_alerts(before_id=raised[0]) == []
    assert len(await registry.list_alerts(before_id=2**70)) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": True},
        {"before_id": 0},
        {"before_id": "5"},
        {"severity": "loud"},
        {"open_only": "yes"},
    ],
    ids=str,
)
async def test_list_alerts_bad_arguments_raise_invalid_argument(
    registry: Registry, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        await registry.list_alerts(**kwargs)


async def test_concurrent_raise_alert_one_key_opens_exactly_one_alert(
    registry: Registry, db_url: str
) -> None:
    results = await race(
        db_url, RACERS, lambda reg, i: _raise(reg, message=f"seen by {i}", details={"i": i})
    )

    assert all(isinstance(r, tuple) for r in results), results
    opened = [alert for alert, new in results if new]
    assert len(opened) == 1, results
    assert {alert.id for alert, _ in results} == {opened[0].id}
    [stored] = await registry.list_alerts()
    assert stored.count == RACERS
    assert sorted(alert.count for alert, _ in results) == list(range(1, RACERS + 1))
    assert len(await _events(registry, "alert_raised")) == 1


async def test_concurrent_raise_alert_after_stale_alert_opens_exactly_one(
    registry: Registry, db_url: str
) -> None:
    stale, _ = await _raise(registry)
    await age_alert(db_url, stale.id, 2 * HOUR)

    results = await race(db_url, RACERS, lambda reg, i: _raise(reg, cooldown=HOUR))

    assert all(isinstance(r, tuple) for r in results), results
    opened = [alert for alert, new in results if new]
    assert len(opened) == 1, results
    assert {alert.id for alert, _ in results} == {opened[0].id}
    assert [a.id for a in await registry.list_alerts()] == [opened[0].id, stale.id]
    assert (await registry.get_alert(stale.id)).count == 1
    assert (await registry.get_alert(opened[0].id)).count == RACERS


async def test_concurrent_raise_and_acknowledge_leave_at_most_one_open_alert(
    registry: Registry, db_url: str
) -> None:
    first, _ = await _raise(registry)

    async def one(reg: Registry, i: int) -> Any:
        if i == 0:
            return await reg.acknowledge_alert(first.id, actor="ops")
        return await _raise(reg)

    results = await race(db_url, RACERS, one)

    assert not [r for r in results if isinstance(r, BaseException)], results
    open_alerts = await registry.list_alerts(open_only=True)
    assert len(open_alerts) <= 1
    total = sum(a.count for a in await registry.list_alerts())
    assert total == RACERS  # the first raise and RACERS - 1 repeats, none lost
