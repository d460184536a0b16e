"""Sample-ratio mismatch: the monitor alerts when an experiment's arms do not hold its
planned split, and stays quiet when they do (chi-square checked against scipy, false
alarms simulated)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.stats import chisquare

from gateway.alerting import Alerts
from gateway.jobs.monitor import Monitor
from gateway.operations import Operations
from gateway.stats.srm import SRM_ALPHA, sample_ratio
from registry.entities import AlertSeverity
from registry.store.registry import Registry
from tests.helpers import experiment_pair, make_experiment_spec, make_prediction


@pytest.fixture
async def registry(tmp_path):
    reg = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'srm.db'}")
    yield reg
    await reg.close()


async def _routed(registry, control: int, treatment: int, **overrides):
    """An experiment whose log holds ``control``/``treatment`` predictions per arm: what
    the gateway logged, whatever its router did."""
    a, b = await experiment_pair(registry)
    spec = make_experiment_spec("m", a.version, b.version, **overrides)
    experiment = await registry.create_experiment(spec, actor="test")
    await registry.write_predictions(
        [
            make_prediction(f"{experiment.id}-{arm}-{i}", arm=arm, experiment_id=experiment.id)
            for arm, n in (("control", control), ("treatment", treatment))
            for i in range(n)
        ]
    )
    return experiment


def _monitor(registry):
    alerts = Alerts(registry, cooldown=timedelta(hours=1))
    return Monitor(Operations(registry, alerts=alerts))


async def test_broken_router_70_30_on_a_50_50_plan_raises_one_critical_alert(registry):
    experiment = await _routed(registry, 700, 300, strategy="random", split=0.5)
    monitor = _monitor(registry)

    await monitor.tick()
    await monitor.tick()  # still broken: folded into the open alert

    (alert,) = await registry.list_alerts()
    assert (alert.kind, alert.severity, alert.count) == ("srm", AlertSeverity.CRITICAL, 2)
    assert alert.key == f"srm:{experiment.id}" and alert.model == "m"
    assert (alert.details["control"], alert.details["treatment"]) == (700, 300)
    expected = chisquare([700, 300], [500, 500])
    assert alert.details["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    ("control", "treatment", "overrides"),
    [
        (520, 480, {"strategy": "random", "split": 0.5}),  # within noise
        (700, 300, {"strategy": "weighted", "split": 0.3}),  # exactly the plan
        (700, 300, {"strategy": "thompson_sampling"}),  # bandits move traffic on purpose
        (3, 1, {"strategy": "random", "split": 0.5}),  # too few to test
    ],
)
async def test_no_alert_when_the_split_holds_or_cannot_be_tested(
    registry, control, treatment, overrides
):
    await _routed(registry, control, treatment, **overrides)
    await _monitor(registry).tick()
    assert await registry.list_alerts() == []


def test_srm_false_alarm_rate_on_a_sound_router_is_at_most_alpha():
    # 20,000 experiments of 2,000 predictions routed 50/50 by a fair coin.
    rng = np.random.default_rng(7)
    treatment = rng.binomial(2000, 0.5, size=20_000)
    alarms = sum(sample_ratio(2000 - t, int(t), 0.5).mismatch for t in treatment)
    # alpha = 0.001: expect 20; allow three binomial standard errors above it.
    assert alarms / 20_000 <= SRM_ALPHA + 3 * np.sqrt(SRM_ALPHA * (1 - SRM_ALPHA) / 20_000)


def test_srm_detects_a_two_point_imbalance_at_twenty_thousand_predictions():
    rng = np.random.default_rng(8)
    treatment = rng.binomial(20_000, 0.52, size=2_000)  # router sends 52% instead of 50%
    power = np.mean([sample_ratio(20_000 - t, int(t), 0.5).mismatch for t in treatment])
    assert power >= 0.95  # measured: 0.99
