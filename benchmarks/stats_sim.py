"""Simulated experiments through galgate's sequential tests: A/A false winners and loss
stops, power at the reported sample size, and the sign of the called winner.

Thousands of experiments run at once (numpy arrays, one entry per experiment): each look
adds a batch of outcomes, routed to the arms by the experiment's strategy, merged into
each arm's moments exactly as the registry merges them (Chan/Pébay), and the monitor's
own test (``gateway.stats.sequential.step``) decides. ``--before`` also runs the tests as
they were before the statistics review (per-arm variances, a two-sided loss test, a
sticky decisive flag, the winner read from the current difference) for comparison.

    python -m benchmarks.stats_sim             # the full table, ~2,000 runs per row
    python -m benchmarks.stats_sim --runs 300 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import ndtr

from gateway.stats import sequential
from gateway.stats.sample_size import sequential_samples_per_arm

Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

DISTRIBUTIONS: dict[str, tuple[Sampler, float]] = {
    # name: (sampler, standard deviation)
    "normal": (lambda rng, s: rng.standard_normal(s), 1.0),
    "bernoulli_0.5": (lambda rng, s: (rng.random(s) < 0.5).astype(float), 0.5),
    "bernoulli_0.02": (lambda rng, s: (rng.random(s) < 0.02).astype(float), math.sqrt(0.0196)),
    "student_t3": (lambda rng, s: rng.standard_t(3, s), math.sqrt(3.0)),
    "x50_1pct": (
        lambda rng, s: rng.standard_normal(s) * np.where(rng.random(s) < 0.01, 50.0, 1.0),
        math.sqrt(0.99 + 0.01 * 2500.0),
    ),
    "jackpot": (
        lambda rng, s: np.where(
            rng.random(s) < 0.01, 50.0 * np.abs(rng.standard_normal(s)), rng.standard_normal(s)
        ),
        math.sqrt(0.99 + 0.01 * 2500.0 - (0.01 * 50.0 * math.sqrt(2.0 / math.pi)) ** 2),
    ),
    "chi2_1": (lambda rng, s: rng.standard_normal(s) ** 2, math.sqrt(2.0)),
    "abs_normal": (lambda rng, s: np.abs(rng.standard_normal(s)), math.sqrt(1.0 - 2.0 / math.pi)),
    "abs_t3": (lambda rng, s: np.abs(rng.standard_t(3, s)), 1.0),
}

# Which distributions each metric is simulated with, and its direction.
METRICS: dict[str, tuple[int, tuple[str, ...]]] = {
    "reward": (
        1,
        ("normal", "bernoulli_0.5", "bernoulli_0.02", "student_t3", "x50_1pct", "jackpot"),
    ),
    "accuracy": (1, ("bernoulli_0.5", "bernoulli_0.02")),
    "squared_error": (-1, ("chi2_1",)),
    "absolute_error": (-1, ("abs_normal", "abs_t3")),
}
SPLITS = (0.5, 0.1, 0.9)
ROUTINGS = ("random", "epsilon_greedy", "thompson_sampling")
ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the table."""

    metric: str
    distribution: str
    split: float = 0.5  # the treatment's share of traffic (random routing)
    routing: str = "random"
    effect: float = 0.0  # treatment − control, in standard deviations (0: A/A)

    @property
    def name(self) -> str:
        parts = [self.metric, self.distribution, f"{round(self.split * 100)}% treatment"]
        if self.routing != "random":
            parts.append(self.routing)
        if self.effect:
            parts.append(f"effect {self.effect:+g} sd")
        return ", ".join(parts)


@dataclass(slots=True)
class Outcome:
    """What a row's runs ended with."""

    scenario: str
    runs: int
    false_winners: int = 0
    loss_stops: int = 0
    treatment_wins: int = 0
    wrong_sign: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def rate(self, count: int) -> tuple[float, float, float]:
        return wilson(count, self.runs)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """The proportion k/n and its 95% Wilson interval.

    >>> [round(v, 4) for v in wilson(50, 1000)]
    [0.05, 0.0381, 0.0653]
    """
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


class _Arm:
    """Cumulative moments of one arm of every run (numpy arrays)."""

    def __init__(self, runs: int) -> None:
        self.n = np.zeros(runs)
        self.mean = np.zeros(runs)
        self.m2 = np.zeros(runs)
        self.m3 = np.zeros(runs)
        self.m4 = np.zeros(runs)

    def add(self, values: np.ndarray, mask: np.ndarray) -> None:
        """Merge each run's masked batch (two-pass batch moments, then Chan/Pébay)."""
        nb = mask.sum(axis=1).astype(float)
        safe = np.where(nb > 0, nb, 1.0)
        mb = (values * mask).sum(axis=1) / safe
        d = (values - mb[:, None]) * mask
        d2 = d * d
        m2b, m3b, m4b = d2.sum(axis=1), (d2 * d).sum(axis=1), (d2 * d2).sum(axis=1)
        na = self.n
        n = na + nb
        sn = np.where(n > 0, n, 1.0)
        delta = mb - self.mean
        self.m4 = np.where(
            nb > 0,
            self.m4
            + m4b
            + delta**4 * na * nb * (na * na - na * nb + nb * nb) / sn**3
            + 6.0 * delta**2 * (na * na * m2b + nb * nb * self.m2) / sn**2
            + 4.0 * delta * (na * m3b - nb * self.m3) / sn,
            self.m4,
        )
        self.m3 = np.where(
            nb > 0,
            self.m3
            + m3b
            + delta**3 * na * nb * (na - nb) / sn**2
            + 3.0 * delta * (na * m2b - nb * self.m2) / sn,
            self.m3,
        )
        self.m2 = np.where(nb > 0, self.m2 + m2b + delta**2 * na * nb / sn, self.m2)
        self.mean = np.where(nb > 0, self.mean + delta * nb / sn, self.mean)
        self.n = n


def _treatment_share(scenario: Scenario, c: _Arm, t: _Arm, direction: int) -> np.ndarray:
    """Each run's probability of routing the next outcome to the treatment."""
    runs = c.n.shape[0]
    if scenario.routing == "random":
        return np.full(runs, scenario.split)
    better = (t.mean - c.mean) * direction
    if scenario.routing == "epsilon_greedy":  # ε = 0.1, explores until each arm has 10
        share = np.where(better > 0, 0.95, np.where(better < 0, 0.05, 0.5))
        return np.where((c.n < 10) | (t.n < 10), 0.5, share)
    # Thompson sampling, Gaussian posteriors with the pooled variance of both arms.
    n = c.n + t.n
    pooled = (c.m2 + t.m2 + (t.mean - c.mean) ** 2 * c.n * t.n / np.maximum(n, 1)) / np.maximum(
        n - 1, 1
    )
    spread = np.sqrt(pooled / np.maximum(c.n, 1) + pooled / np.maximum(t.n, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = ndtr(np.where(spread > 0, better / spread, 0.0))
    return np.where((c.n < 2) | (t.n < 2) | (pooled <= 0), 0.5, share)


def simulate(
    scenario: Scenario,
    *,
    runs: int,
    seed: int,
    per_arm: int = 5000,
    batch: int = 40,
    min_samples: int = 100,
    max_loss_sd: float = 0.1,
    before: bool = False,
) -> Outcome:
    """Run ``runs`` experiments of ``scenario`` to ``per_arm`` outcomes per arm (in total
    twice that), a look every ``batch`` outcomes, and count how they ended."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    direction, _ = METRICS[scenario.metric]
    sampler, sd = DISTRIBUTIONS[scenario.distribution]
    config = sequential.Config(
        alpha=ALPHA, min_samples=min_samples, direction=direction, max_loss=max_loss_sd * sd
    )
    c, t = _Arm(runs), _Arm(runs)
    state = sequential.State.fresh(runs)
    old = _Before(runs, config) if before else None
    active = np.ones(runs, dtype=bool)
    result = Outcome(scenario.name, runs)
    winners = np.zeros(runs, dtype=np.int8)
    lost = np.zeros(runs, dtype=bool)
    sign_at_decision = np.zeros(runs, dtype=np.int8)
    for _ in range(2 * per_arm // batch):
        values = sampler(rng, (runs, batch))
        to_t = rng.random((runs, batch)) < _treatment_share(scenario, c, t, direction)[:, None]
        values = values + np.where(to_t, scenario.effect * sd, 0.0)
        c.add(values, ~to_t & active[:, None])
        t.add(values, to_t & active[:, None])
        arms = sequential.Arms(c.n, c.mean, c.m2, c.m3, c.m4, t.n, t.mean, t.m2, t.m3, t.m4)
        if old is None:
            look = sequential.step(state, arms, config)
            now_lost, now_won = look.lost & active, look.decided & active
            called = state.winner
        else:
            now_lost, now_won, called = old.step(arms)
            now_lost &= active
            now_won &= active & ~now_lost
        lost |= now_lost
        winners = np.where(now_won, called, winners)
        sign_at_decision = np.where(
            now_won, np.where((t.mean - c.mean) * direction > 0, 1, -1), sign_at_decision
        )
        active &= ~(now_lost | now_won)
        if not active.any():
            break
    result.loss_stops = int(lost.sum())
    result.false_winners = int((winners != 0).sum())
    result.treatment_wins = int((winners == 1).sum())
    result.wrong_sign = int(((winners != 0) & (winners != sign_at_decision)).sum())
    result.seconds = time.perf_counter() - started
    return result


class _Before:
    """The tests as they were: per-arm variances, sticky decisive flags, a two-sided loss
    test, the winner read from the current difference once min_samples is met."""

    def __init__(self, runs: int, config: sequential.Config) -> None:
        self.config = config
        self.tau2 = np.full(runs, np.nan)
        self.decisive = np.zeros(runs, dtype=bool)
        self.loss_decisive = np.zeros(runs, dtype=bool)

    def step(self, a: sequential.Arms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        burn = (a.n_c >= 20) & (a.n_t >= 20)
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = (a.m2_c + a.m2_t) / (a.n_c + a.n_t - 2)
            fix = burn & np.isnan(self.tau2) & (pooled > 0)
            self.tau2 = np.where(fix, cfg.tau_scale**2 * pooled, self.tau2)
            w = a.m2_c / ((a.n_c - 1) * a.n_c) + a.m2_t / ((a.n_t - 1) * a.n_t)
            ok = burn & ~np.isnan(self.tau2) & (w > 0)
            diff = a.mean_t - a.mean_c
            threshold = math.log(1 / cfg.alpha)
            ll = np.where(ok, sequential.log_mixture(diff, w, self.tau2), 0.0)
            self.decisive |= ok & (ll >= threshold)
            theta0 = -cfg.direction * cfg.max_loss
            ll_loss = np.where(ok, sequential.log_mixture(diff - theta0, w, self.tau2), 0.0)
            self.loss_decisive |= ok & (ll_loss >= threshold)
        enough = np.minimum(a.n_c, a.n_t) >= cfg.min_samples
        won = self.decisive & enough & (diff != 0)
        called = np.where(diff * cfg.direction > 0, 1, -1).astype(np.int8)
        lost = self.loss_decisive & ((diff + cfg.direction * cfg.max_loss) * cfg.direction < 0)
        return lost, won, called


def aa_scenarios(routings: tuple[str, ...] = ROUTINGS) -> list[Scenario]:
    """Every A/A row: each metric's distributions, three splits, and bandit routing."""
    rows = []
    for metric, (_, distributions) in METRICS.items():
        for dist in distributions:
            rows += [Scenario(metric, dist, split) for split in SPLITS]
            rows += [Scenario(metric, dist, 0.5, routing) for routing in routings[1:]]
    return rows


def power_row(effect: float, *, runs: int, seed: int, min_samples: int = 100) -> Outcome:
    """Normal outcomes with a true effect: how often the treatment wins within the
    sample size galgate reports for that effect."""
    n = sequential_samples_per_arm(1.0, effect, alpha=ALPHA, min_samples=min_samples)
    scenario = Scenario("reward", "normal", 0.5, effect=effect)
    batch = 40
    per_arm = max(batch, int(math.ceil(n / (batch // 2)) * (batch // 2)))
    outcome = simulate(scenario, runs=runs, seed=seed, per_arm=per_arm, min_samples=min_samples)
    outcome.extra = {"reported_n_per_arm": float(n)}
    return outcome


def _row(o: Outcome) -> dict:
    fw, lo_w, hi_w = o.rate(o.false_winners)
    ls, lo_l, hi_l = o.rate(o.loss_stops)
    return {
        **asdict(o),
        "false_winner_rate": fw,
        "false_winner_ci": [lo_w, hi_w],
        "loss_stop_rate": ls,
        "loss_stop_ci": [lo_l, hi_l],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", action="store_true", help="also the tests as they were")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", default="", help="rows whose name contains this")
    args = parser.parse_args(argv)
    rows = [s for s in aa_scenarios() if args.only in s.name]
    report: dict[str, list] = {"aa": [], "before": [], "power": []}
    for i, scenario in enumerate(rows):
        o = simulate(scenario, runs=args.runs, seed=args.seed + i)
        report["aa"].append(_row(o))
        if args.before:
            report["before"].append(
                _row(simulate(scenario, runs=args.runs, seed=args.seed + i, before=True))
            )
        if not args.json:
            _print_row(report["aa"][-1], report["before"][-1] if args.before else None)
    for effect in (0.1, 0.2, 0.5):
        o = power_row(effect, runs=args.runs, seed=args.seed + 1000 + int(effect * 10))
        report["power"].append(_row(o) | {"power": o.treatment_wins / o.runs})
        if not args.json:
            n = o.extra["reported_n_per_arm"]
            power = o.treatment_wins / o.runs
            print(f"power at reported n={n:.0f} per arm for {effect} sd: {power:.3f}")
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


def _print_row(after: dict, before: dict | None) -> None:
    def pct(rate, ci):
        return f"{100 * rate:5.1f}% [{100 * ci[0]:4.1f}, {100 * ci[1]:4.1f}]"

    winners = pct(after["false_winner_rate"], after["false_winner_ci"])
    line = f"{after['scenario']:<62} winners {winners}"
    line += f"  loss stops {pct(after['loss_stop_rate'], after['loss_stop_ci'])}"
    if before is not None:
        line += f"  | before: {pct(before['false_winner_rate'], before['false_winner_ci'])}"
        line += f", {pct(before['loss_stop_rate'], before['loss_stop_ci'])}"
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
