"""`galgate drift|alerts|retrain`: the same answers on the database (--db) and through a
gateway (--server), and the clear refusals where only a gateway (with a trainer) can act."""

from __future__ import annotations

import json
from datetime import timedelta

from registry.entities import AlertSeverity
from tests.cli.conftest import Remote, error_line, galgate
from tests.helpers import experiment_pair


async def _seed(remote: Remote) -> tuple[int, int]:
    production, _ = await experiment_pair(remote.registry)
    version = production.version
    alert, _ = await remote.registry.raise_alert(
        f"drift:m:{version}", "drift", AlertSeverity.WARNING, "model m: data drift",
        model="m", version=version, details={"report_id": 1}, cooldown=timedelta(hours=1),
    )  # fmt: skip
    report = await remote.registry.record_drift_report(
        model="m",
        version=version,
        drift=True,
        kinds=("data",),
        live_rows=1200,
        outcomes=0,
        summary="data drift in f1",
        details={
            "data": {
                "rows": 1200,
                "drifted_features": ["f1"],
                "features": [
                    {
                        "name": "f1",
                        "ks_statistic": 0.4,
                        "ks_p_value": 1e-30,
                        "ks_threshold": 0.0125,
                        "psi": 0.9,
                        "live_mean": 1.5,
                        "live_std": 1.0,
                        "reference_mean": 0.0,
                        "reference_std": 1.0,
                        "drifted": True,
                    }
                ],
            }
        },
    )
    return alert.id, report.id


async def test_alerts_and_reports_read_and_acknowledged_through_both_doors(capsys, remote):
    alert_id, report_id = await _seed(remote)
    for door in (["--db", remote.db], ["--server", remote.address]):
        listed = await galgate(capsys, "alerts", "list", "--open", *door)
        assert listed.code == 0 and "open" in listed.stdout and "data drift" in listed.stdout
        reports = await galgate(capsys, "drift", "list", "--drift-only", *door)
        assert f"{report_id}" in reports.stdout and "DRIFT (data)" in reports.stdout
        shown = await galgate(capsys, "drift", "show", str(report_id), *door)
        assert "f1" in shown.stdout and "1.00e-30" in shown.stdout and "yes" in shown.stdout

    acked = await galgate(
        capsys, "alerts", "ack", str(alert_id), "--note", "feed fixed", "--server", remote.address
    )
    assert acked.code == 0 and "acknowledged by ops" in acked.stdout
    still_open = await galgate(capsys, "alerts", "list", "--open", "--db", remote.db, "--json")
    assert json.loads(still_open.stdout) == []
    (stored,) = await remote.registry.list_alerts()
    assert (stored.acknowledged_by, stored.acknowledgement) == ("ops", "feed fixed")


async def test_gateway_only_actions_refused_clearly(capsys, remote):
    no_trainer = await galgate(capsys, "retrain", "start", "m", "--server", remote.address)
    assert "GALGATE_TRAINER" in error_line(no_trainer)
    unknown = await galgate(capsys, "alerts", "ack", "999", "--db", remote.db)
    assert "999" in error_line(unknown)
    runs = await galgate(capsys, "retrain", "list", "--db", remote.db)
    assert runs.code == 0 and "no retraining runs" in runs.stdout
    checked = await galgate(capsys, "drift", "check", "--server", remote.address)
    assert checked.code == 0 and "no drift reports" in checked.stdout  # nothing served yet
    usage = await galgate(capsys, "drift", "check", "--db", remote.db)
    assert usage.code == 2  # a check needs the gateway's live windows: --server
