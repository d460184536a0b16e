"""Drift reports: record one of a registered version, the checks at the edge, read, list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from registry import (
    DriftReport,
    DriftReportNotFoundError,
    InvalidArgumentError,
    ModelNotFoundError,
    Registry,
    Stage,
    VersionNotFoundError,
)
from tests.helpers import register_in_stage


async def _record(registry: Registry, **kw: Any) -> DriftReport:
    fields: dict[str, Any] = {
        "model": "m",
        "version": "1.0.0",
        "drift": True,
        "kinds": ("data", "concept"),
        "live_rows": 5000,
        "outcomes": 1200,
        "summary": "f0 shifted (PSI 0.31); error rate rose",
        "details": {"features": {"f0": {"ks_p": 1e-6, "psi": 0.31}}, "ph": {"alarm": True}},
    }
    fields.update(kw)
    return await registry.record_drift_report(**fields)


@pytest.fixture
async def versions(registry: Registry) -> Registry:
    await register_in_stage(registry, "m", Stage.PRODUCTION, version="1.0.0")
    await register_in_stage(registry, "m", Stage.STAGING, version="1.0.1")
    await register_in_stage(registry, "n", Stage.PRODUCTION, version="1.0.0")
    return registry


async def test_record_drift_report_stores_everything(versions: Registry) -> None:
    before = datetime.now(UTC)

    report = await _record(versions)

    assert report.id >= 1
    assert (report.model, report.version, report.drift) == ("m", "1.0.0", True)
    assert report.kinds == ("data", "concept")
    assert (report.live_rows, report.outcomes) == (5000, 1200)
    assert report.summary == "f0 shifted (PSI 0.31); error rate rose"
    assert report.details == {
        "features": {"f0": {"ks_p": 1e-6, "psi": 0.31}},
        "ph": {"alarm": True},
    }
    assert report.created_at.tzinfo is not None and report.created_at >= before
    assert await versions.get_drift_report(report.id) == report


async def test_record_drift_report_without_drift(versions: Registry) -> None:
    report = await _record(versions, drift=False, kinds=[], details=None, live_rows=0, outcomes=0)

    assert (report.drift, report.kinds, report.details) == (False, (), {})
    assert await versions.get_drift_report(report.id) == report


async def test_record_drift_report_unknown_model_or_version_raises(versions: Registry) -> None:
    with pytest.raises(ModelNotFoundError):
        await _record(versions, model="nope")
    with pytest.raises(VersionNotFoundError):
        await _record(versions, version="9.9.9")
    assert await versions.list_drift_reports() == []


_BAD_REPORTS = {
    "drift-no-kinds": ({"kinds": []}, "needs the checks that decided it"),
    "kinds-no-drift": ({"drift": False}, "drift=False, but kinds"),
    "drift-not-bool": ({"drift": 1}, "drift must be True or False"),
    "kinds-str": ({"kinds": "data"}, "sequence of names"),
    "kind-bad": ({"kinds": ["Data"]}, "invalid drift kind"),
    "kinds-repeat": ({"kinds": ["data", "data"]}, "repeats"),
    "kinds-many": ({"kinds": [f"k{i}" for i in range(17)]}, "at most 16"),
    "rows-negative": ({"live_rows": -1}, "live_rows must be an integer"),
    "rows-bool": ({"live_rows": True}, "live_rows must be an integer"),
    "rows-float": ({"live_rows": 1.5}, "live_rows must be an integer"),
    "outcomes-negative": ({"outcomes": -3}, "outcomes must be an integer"),
    "summary-long": ({"summary": "s" * 2001}, "2001 characters"),
    "details-nan": ({"details": {"p": float("inf")}}, "finite numbers"),
    "details-list": ({"details": ["a"]}, "JSON object"),
    "details-big": ({"details": {"x": "y" * 262_144}}, "at most 262144"),
}


@pytest.mark.parametrize(("change", "match"), _BAD_REPORTS.values(), ids=_BAD_REPORTS.keys())
async def test_record_drift_report_bad_value_raises_invalid_argument_and_writes_nothing(
    versions: Registry, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        await _record(versions, **change)

    assert await versions.list_drift_reports() == []


@pytest.mark.parametrize("report_id", [1, 0, 2**63], ids=["unknown", "zero", "big"])
async def test_get_drift_report_unknown_raises_not_found(
    registry: Registry, report_id: int
) -> None:
    with pytest.raises(DriftReportNotFoundError, match=f"drift report {report_id} does not"):
        await registry.get_drift_report(report_id)


async def test_get_drift_report_id_not_integer_raises_invalid_argument(
    registry: Registry,
) -> None:
    with pytest.raises(InvalidArgumentError):
        await registry.get_drift_report("1")  # type: ignore[arg-type]


async def test_list_drift_reports_newest_first_with_filters(versions: Registry) -> None:
    a = await _record(versions)
    b = await _record(versions, version="1.0.1", drift=False, kinds=[])
    c = await _record(versions, model="n", kinds=["performance"])
    d = await _record(versions, drift=False, kinds=())

    def ids(reports: list[DriftReport]) -> list[int]:
        return [r.id for r in reports]

    assert ids(await versions.list_drift_reports()) == [d.id, c.id, b.id, a.id]
    assert ids(await versions.list_drift_reports(model="m")) == [d.id, b.id, a.id]
    assert ids(await versions.list_drift_reports(model="m", version="1.0.0")) == [d.id, a.id]
    assert ids(await versions.list_drift_reports(drift_only=True)) == [c.id, a.id]
    assert ids(await versions.list_drift_reports(model="m", drift_only=True)) == [a.id]
    assert ids(await versions.list_drift_reports(limit=1, before_id=c.id)) == [b.id]
    assert ids(await versions.list_drift_reports(before_id=a.id)) == []


async def test_list_drift_reports_unknown_model_or_version_raises(versions: Registry) -> None:
    with pytest.raises(ModelNotFoundError):
        await versions.list_drift_reports(model="nope")
    with pytest.raises(VersionNotFoundError):
        await versions.list_drift_reports(model="m", version="9.9.9")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1001},
        {"before_id": -1},
        {"version": "1.0.0"},
        {"drift_only": 1},
    ],
    ids=str,
)
async def test_list_drift_reports_bad_arguments_raise_invalid_argument(
    versions: Registry, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        await versions.list_drift_reports(**kwargs)
