"""The soak's figures and findings, from what the run saw (``SoakRun``) and what the
registry holds at the end; printed as tables and written as JSON.

A finding is something "nothing lost" (/work/shared/REFERENCE.md) or the soak's own
thresholds forbid: a status code outside the expected set (INTERNAL, UNKNOWN, ...), a
forged or malformed call answered OK, a normal call failing outside a fault window, an
acknowledged outcome missing or changed, an outcome stored that no authorized client
sent, a prediction lost outside a kill's loss window, a broken registry, memory growth
after warm-up above the threshold, a gateway that logged an unhandled error or did not
exit cleanly on SIGTERM.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from tests.faults.invariants import (
    EXPECTED,
    Findings,
    RegistryState,
    check_outcomes,
    check_promotions,
    check_registry,
)
from tests.faults.load import Call, Ledger

Code = grpc.StatusCode
MIB = 1024 * 1024
# The load's own calls (tests.faults.load.Load); every other label is soak traffic.
NORMAL = ("Predict", "RecordOutcome", "PromoteModel")
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Window:
    """A fault: [start, end] in monotonic time; ``kind`` is "kill" or "lock"."""

    kind: str
    start: float
    end: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """One RSS sample of the gateway process serving at ``t``."""

    t: float
    lifetime: int
    rss: int
    fds: int
    threads: int


@dataclass
class Lifetime:
    """One gateway process: started serving at ``started``, ended at ``ended``."""

    index: int
    pid: int
    started: float
    ended: float = math.nan
    how: str = ""  # "kill -9", "SIGTERM (exit N)"
    error_lines: list[str] = field(default_factory=list)


@dataclass
class SoakRun:
    """Everything a soak run collected; ``report`` turns it into figures and findings."""

    backend: str
    duration: float
    t0: float
    ledger: Ledger
    proper: dict[str, frozenset[Code]]
    windows: list[Window] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    lifetimes: list[Lifetime] = field(default_factory=list)
    experiments: dict[str, Any] = field(default_factory=dict)
    hostile_calls: int = 0
    repeats_not_duplicate: list[str] = field(default_factory=list)
    stream_problems: list[str] = field(default_factory=list)
    restart_failures: list[str] = field(default_factory=list)
    final_exit_code: int | None = None
    # GetStatus.prediction_log_dropped of the last gateway before it stopped
    predlog_dropped: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    loss_window: float = 2.0
    warmup: float = 60.0
    max_rss_growth_mb: float = 64.0
    ended: float = 0.0


def _describe(calls: Iterable[Call], t0: float) -> str:
    groups: dict[tuple[str, str], list[Call]] = {}
    for c in calls:
        groups.setdefault((c.method, c.code.name), []).append(c)
    return "; ".join(
        f"{m} {code} x{len(g)} (e.g. at t={g[0].started - t0:.1f}s after "
        f"{g[0].ended - g[0].started:.2f}s: {g[0].details[:160]!r})"
        for (m, code), g in sorted(groups.items())
    )


def _in_any(call: Call, windows: Sequence[Window], margin: float) -> bool:
    return any(call.ended >= w.start and call.started <= w.end + margin for w in windows)


def _percentiles_ms(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    p50, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 99]) * 1e3
    return float(p50), float(p99)


def report(run: SoakRun, state: RegistryState | None) -> dict[str, Any]:
    """The figures and the findings of ``run``; ``state`` is the registry read at the end
    (None when it could not be read: itself a finding)."""
    ledger, t0 = run.ledger, run.t0
    findings = Findings(f"soak ({run.backend})")

    # -- calls by method x code ----------------------------------------------------
    table: dict[str, dict[str, int]] = {}
    for c in ledger.calls:
        row = table.setdefault(c.method, {})
        row[c.code.name] = row.get(c.code.name, 0) + 1

    unexpected = [c for c in ledger.calls if c.code not in EXPECTED]
    findings.expect(
        not unexpected,
        f"{len(unexpected)} calls ended with a status outside the expected set "
        f"(INTERNAL/UNKNOWN/...): {_describe(unexpected, t0)}",
    )
    accepted = [
        c
        for c in ledger.calls
        if c.code is Code.OK and c.method in run.proper and Code.OK not in run.proper[c.method]
    ]
    findings.expect(
        not accepted,
        f"{len(accepted)} forged or malformed calls were answered OK: "
        f"{_describe(accepted, t0)}; subjects {[c.subject[:40] for c in accepted[:_EXAMPLES]]}",
    )
    surprising = {
        label: codes
        for label, codes in table.items()
        if label in run.proper
        and any(
            Code[name] not in run.proper[label] | {Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED}
            for name in codes
        )
    }
    findings.expect(
        not run.repeats_not_duplicate,
        f"{len(run.repeats_not_duplicate)} repeats of an acknowledged outcome (same value) "
        f"were answered OK without duplicate=true, e.g. {run.repeats_not_duplicate[:_EXAMPLES]}",
    )

    findings.expect(
        not run.stream_problems,
        f"{len(run.stream_problems)} PredictStreams of good, NaN, good were not answered "
        f"in order with the bad message's error, e.g. {run.stream_problems[:_EXAMPLES]}",
    )
    findings.expect(
        not run.restart_failures,
        f"{len(run.restart_failures)} gateway restarts after kill -9 failed: "
        f"{run.restart_failures[:_EXAMPLES]}",
    )
    predict_ok = [c for c in ledger.calls if c.method == "Predict" and c.code is Code.OK]
    locks = [w for w in run.windows if w.kind == "lock"]
    kills = [w for w in run.windows if w.kind == "kill"]
    phases = {
        "during database locks": [c for c in predict_ok if _in_any(c, locks, 0.0)],
        "within 5 s after a restart": [c for c in predict_ok if _in_any(c, kills, 5.0)],
        "no fault": [c for c in predict_ok if not _in_any(c, run.windows, 5.0)],
    }
    predict_by_phase = {}
    for phase, calls in phases.items():
        p50, p99 = _percentiles_ms([c.ended - c.started for c in calls])
        predict_by_phase[phase] = {"ok": len(calls), "p50_ms": p50, "p99_ms": p99}
    latency: dict[str, dict[str, float]] = {}
    for label in sorted(table):
        if "[" in label:
            continue
        took = [
            c.ended - c.started for c in ledger.calls if c.method == label and c.code is Code.OK
        ]
        p50, p99 = _percentiles_ms(took)
        latency[label] = {
            "ok": len(took),
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": max(took, default=math.nan) * 1e3,
        }

    # -- normal traffic outside fault windows ---------------------------------------
    margin = 3.0
    predict_failed = [
        c
        for c in ledger.calls
        if c.method == "Predict" and c.code is not Code.OK and not _in_any(c, kills, margin)
    ]
    findings.expect(
        not predict_failed,
        f"{len(predict_failed)} Predict calls failed outside a kill window (a database lock "
        f"must not stop Predict): {_describe(predict_failed, t0)}",
    )
    writes_failed = [
        c
        for c in ledger.calls
        if c.method in ("RecordOutcome", "PromoteModel")
        and c.code is not Code.OK
        and not _in_any(c, run.windows, margin)
    ]
    findings.expect(
        not writes_failed,
        f"{len(writes_failed)} RecordOutcome/PromoteModel calls of the load failed outside "
        f"a fault window: {_describe(writes_failed, t0)}",
    )

    # -- the registry at the end ------------------------------------------------------
    outcomes: dict[str, Any] = {
        "sent": len(ledger.sent_outcomes),
        "acknowledged": len(ledger.acknowledged),
    }
    predictions: dict[str, Any] = {"answered": len(ledger.answers)}
    production = ""
    if state is None:
        findings.expect(False, "the registry could not be read at the end")
    else:
        findings.check(check_registry, state, models=(ledger.model,))
        findings.check(check_promotions, state, ledger)
        findings.check(check_outcomes, state, ledger)
        acknowledged_stored = sum(
            1 for pid, v in ledger.acknowledged.items() if state.outcomes.get(pid) == v
        )
        unauthorized = sorted(set(state.outcomes) - set(ledger.sent_outcomes))
        findings.expect(
            not unauthorized,
            f"{len(unauthorized)} outcomes are stored that no authorized client sent "
            f"(forged or malformed calls got through), e.g. {unauthorized[:_EXAMPLES]}",
        )
        outcomes |= {
            "stored_total": len(state.outcomes),
            "acknowledged_stored_once_with_value": acknowledged_stored,
            "acknowledged_missing_or_changed": len(ledger.acknowledged) - acknowledged_stored,
            "stored_unauthorized": len(unauthorized),
            "sent_not_acknowledged_but_stored": sum(
                1
                for pid in ledger.sent_outcomes
                if pid not in ledger.acknowledged and pid in state.outcomes
            ),
            "duplicates": state.duplicate_outcomes,
        }
        lost = [a for a in ledger.answers.values() if a.prediction_id not in state.predictions]
        excused = [
            a
            for a in lost
            if any(w.start - run.loss_window <= a.answered <= w.start for w in kills)
        ]
        excused_ids = {a.prediction_id for a in excused}
        unexcused = [a for a in lost if a.prediction_id not in excused_ids]
        findings.expect(
            not unexcused,
            f"{len(unexcused)} answered predictions are not stored and were not answered "
            f"within {run.loss_window:g}s before a kill, e.g. "
            f"{[(a.prediction_id, round(a.answered - t0, 1)) for a in unexcused[:_EXAMPLES]]}",
        )
        predictions |= {
            "stored_of_answered": len(ledger.answers) - len(lost),
            "lost_in_kill_windows": len(excused),
            "lost_elsewhere": len(unexcused),
            "stored_total": len(state.predictions),
            "log_dropped_by_last_gateway": run.predlog_dropped,
        }
        production = state.production.get(ledger.model, "")
    promotions_ok = sum(1 for p in ledger.promotions if p.code is Code.OK)

    # -- memory ---------------------------------------------------------------------
    # whole minutes, and a last partial one only when it is over 5 s long
    minutes = max(1, int(run.duration // 60) + (run.duration % 60 > 5))
    per_minute: list[dict[str, Any]] = []
    for m in range(minutes):
        lo, hi = t0 + 60 * m, t0 + 60 * (m + 1)
        samples = [s for s in run.samples if lo <= s.t < hi and s.rss]
        lat = [
            c.ended - c.started
            for c in ledger.calls
            if c.method == "Predict" and c.code is Code.OK and lo <= c.started < hi
        ]
        p50, p99 = _percentiles_ms(lat)
        per_minute.append(
            {
                "minute": m + 1,
                "lifetimes": sorted({s.lifetime for s in samples}),
                "rss_mb_min": min((s.rss for s in samples), default=0) / MIB,
                "rss_mb_max": max((s.rss for s in samples), default=0) / MIB,
                "rss_mb_last": (samples[-1].rss / MIB) if samples else 0.0,
                "fds_max": max((s.fds for s in samples), default=0),
                "threads_max": max((s.threads for s in samples), default=0),
                "predict_ok": len(lat),
                "predict_p50_ms": p50,
                "predict_p99_ms": p99,
                "calls": sum(1 for c in ledger.calls if lo <= c.started < hi),
            }
        )
    lifetimes_mem: list[dict[str, Any]] = []
    for life in run.lifetimes:
        samples = [s for s in run.samples if s.lifetime == life.index and s.rss]
        after = [s for s in samples if s.t >= life.started + run.warmup]
        entry: dict[str, Any] = {
            "lifetime": life.index,
            "pid": life.pid,
            "served_from_s": round(life.started - t0, 1),
            "served_to_s": round((life.ended if not math.isnan(life.ended) else run.ended) - t0, 1),
            "how_it_ended": life.how,
            "rss_mb_first": samples[0].rss / MIB if samples else 0.0,
            "rss_mb_last": samples[-1].rss / MIB if samples else 0.0,
            "rss_mb_max": max((s.rss for s in samples), default=0) / MIB,
            "post_warmup_seconds": round(after[-1].t - after[0].t, 1) if len(after) > 1 else 0.0,
            "logged_error_lines": len(life.error_lines),
            "logged_error_examples": life.error_lines[:_EXAMPLES],
        }
        if len(after) > 1:
            base = after[0].rss
            growth = (max(s.rss for s in after) - base) / MIB
            span = after[-1].t - after[0].t
            slope = np.polyfit([s.t for s in after], [s.rss / MIB for s in after], 1)[0] * 60
            entry |= {
                "rss_mb_after_warmup": base / MIB,
                "growth_mb_after_warmup": growth,
                "slope_mb_per_min": float(slope),
                "fds_after_warmup": after[0].fds,
                "fds_last": after[-1].fds,
            }
            findings.expect(
                growth <= run.max_rss_growth_mb,
                f"gateway lifetime {life.index} (pid {life.pid}) grew {growth:.1f} MiB in "
                f"{span:.0f}s after its {run.warmup:g}s warm-up "
                f"(threshold {run.max_rss_growth_mb:g} MiB; slope {slope:.2f} MiB/min)",
            )
        lifetimes_mem.append(entry)
        unhandled = [line for line in life.error_lines if "unhandled error" in line]
        findings.expect(
            not unhandled,
            f"gateway lifetime {life.index} logged {len(unhandled)} unhandled errors, e.g. "
            f"{unhandled[:_EXAMPLES]}",
        )
    findings.expect(
        run.final_exit_code == 0,
        f"the last gateway exited with code {run.final_exit_code} on SIGTERM (expected 0)",
    )
    sampled = [m for m in per_minute if m["rss_mb_max"]]
    first = sampled[0] if sampled else {}
    last = sampled[-1] if sampled else {}
    growths = [e["growth_mb_after_warmup"] for e in lifetimes_mem if "growth_mb_after_warmup" in e]

    figures = {
        "backend": run.backend,
        "duration_s": round(run.duration, 1),
        "settings": run.settings,
        "calls_total": len(ledger.calls),
        "hostile_calls": run.hostile_calls,
        "calls_by_method_and_code": {k: dict(sorted(v.items())) for k, v in sorted(table.items())},
        "codes_outside_the_cases_proper_set": surprising,
        "latency_ok_calls_by_method": latency,
        "predict_latency_by_phase": predict_by_phase,
        "outcomes": outcomes,
        "predictions": predictions,
        "promotions_ok": promotions_ok,
        "promotions_attempted": len(ledger.promotions),
        "production_at_end": production,
        "experiments": run.experiments,
        "kills": len(kills),
        "locks": sum(1 for w in run.windows if w.kind == "lock"),
        "faults": [
            {
                "kind": w.kind,
                "from_s": round(w.start - t0, 1),
                "to_s": round(w.end - t0, 1),
                "detail": w.detail,
            }
            for w in run.windows
        ],
        "per_minute": per_minute,
        "lifetimes": lifetimes_mem,
        "rss_mb_first_minute": first.get("rss_mb_max", 0.0),
        "rss_mb_last_minute": last.get("rss_mb_max", 0.0),
        "max_growth_mb_after_warmup": max(growths, default=math.nan),
        "final_exit_code": run.final_exit_code,
        "findings": findings.failures,
    }
    return figures


def _fmt(x: float, spec: str = ".1f") -> str:
    return "-" if isinstance(x, float) and math.isnan(x) else format(x, spec)


def render(figures: dict[str, Any]) -> str:
    """The report as text tables."""
    out: list[str] = []
    add = out.append
    add(
        f"galgate soak: {figures['backend']}, {figures['duration_s']:g}s, "
        f"{figures['calls_total']} calls ({figures['hostile_calls']} forged/malformed)"
    )
    add("")
    table = figures["calls_by_method_and_code"]
    codes = sorted({code for row in table.values() for code in row}, key=lambda n: (n != "OK", n))
    width = max(len(m) for m in table) if table else 10
    add("calls by method x status code")
    add(f"  {'method':<{width}}  " + "  ".join(f"{c[:12]:>12}" for c in codes))
    for method, row in table.items():
        cells = "  ".join(f"{row.get(c, 0) or '':>12}" for c in codes)
        add(f"  {method:<{width}}  {cells}")
    if figures["codes_outside_the_cases_proper_set"]:
        add("  (codes besides each case's proper ones, not findings unless outside the expected")
        add(f"   set: {figures['codes_outside_the_cases_proper_set']})")
    add("")
    add("latency of OK calls (ms)          n      p50      p99      max")
    for method, lat in figures["latency_ok_calls_by_method"].items():
        add(
            f"  {method:<24} {lat['ok']:>8} {_fmt(lat['p50_ms'], '8.2f')} "
            f"{_fmt(lat['p99_ms'], '8.2f')} {_fmt(lat['max_ms'], '8.1f')}"
        )
    for phase, lat in figures["predict_latency_by_phase"].items():
        add(
            f"  Predict, {phase:<27} {lat['ok']:>8} {_fmt(lat['p50_ms'], '8.2f')} "
            f"{_fmt(lat['p99_ms'], '8.2f')}"
        )
    add("")
    o, p = figures["outcomes"], figures["predictions"]
    add("outcomes")
    add(
        f"  sent {o['sent']}, acknowledged {o['acknowledged']}, acknowledged and stored once "
        f"with their value {o.get('acknowledged_stored_once_with_value', '?')}, missing or "
        f"changed {o.get('acknowledged_missing_or_changed', '?')}"
    )
    add(
        f"  stored in all {o.get('stored_total', '?')}; stored though never acknowledged "
        f"(sent, call failed) {o.get('sent_not_acknowledged_but_stored', '?')}; stored "
        f"unauthorized {o.get('stored_unauthorized', '?')}; duplicates {o.get('duplicates', '?')}"
    )
    add(
        f"predictions: answered {p['answered']}, stored {p.get('stored_of_answered', '?')}, "
        f"lost within a kill's loss window {p.get('lost_in_kill_windows', '?')}, lost "
        f"elsewhere {p.get('lost_elsewhere', '?')}, dropped (queue full, last gateway) "
        f"{p.get('log_dropped_by_last_gateway', '?')}"
    )
    e = figures["experiments"]
    add(
        f"promotions: {figures['promotions_ok']} acknowledged of "
        f"{figures['promotions_attempted']}; production at end {figures['production_at_end']}"
    )
    add(
        f"experiments: created {e.get('created', 0)}, stopped {e.get('stopped', 0)}, ended "
        f"by the monitor first {e.get('completed_elsewhere', 0)}, paused/resumed "
        f"{e.get('paused', 0)}/{e.get('resumed', 0)}, results read {e.get('results_read', 0)}"
    )
    add(f"faults: {figures['kills']} kill -9 + restart, {figures['locks']} database locks")
    for f in figures["faults"]:
        add(f"  {f['kind']:<5} {f['from_s']:>7.1f}s .. {f['to_s']:>7.1f}s  {f['detail']}")
    add("")
    add("per minute   lifetimes  RSS MiB min/max/last   fds thr   Predict OK  p50 ms  p99 ms")
    for m in figures["per_minute"]:
        add(
            f"  {m['minute']:>3}      {','.join(map(str, m['lifetimes'])):>9}  "
            f"{m['rss_mb_min']:>6.1f}/{m['rss_mb_max']:>6.1f}/{m['rss_mb_last']:>6.1f}  "
            f"{m['fds_max']:>5} {m['threads_max']:>3}  {m['predict_ok']:>10}  "
            f"{_fmt(m['predict_p50_ms'], '7.2f')} {_fmt(m['predict_p99_ms'], '7.2f')}"
        )
    add("")
    add("gateway lifetimes (RSS MiB: first, after warm-up, max, last; growth after warm-up)")
    for life in figures["lifetimes"]:
        growth = life.get("growth_mb_after_warmup")
        tail = (
            f"after warm-up {life['rss_mb_after_warmup']:.1f}, growth {growth:.1f} over "
            f"{life['post_warmup_seconds']:g}s (slope {life['slope_mb_per_min']:.2f} MiB/min, "
            f"fds {life['fds_after_warmup']}->{life['fds_last']})"
            if growth is not None
            else "no post-warm-up window"
        )
        add(
            f"  #{life['lifetime']} pid {life['pid']} {life['served_from_s']:>6.1f}s.."
            f"{life['served_to_s']:>6.1f}s ({life['how_it_ended']}): first "
            f"{life['rss_mb_first']:.1f}, max {life['rss_mb_max']:.1f}, last "
            f"{life['rss_mb_last']:.1f}; {tail}; {life['logged_error_lines']} ERROR lines logged"
        )
    add(
        f"RSS first minute {figures['rss_mb_first_minute']:.1f} MiB, last minute "
        f"{figures['rss_mb_last_minute']:.1f} MiB, max growth after warm-up "
        f"{_fmt(figures['max_growth_mb_after_warmup'])} MiB"
    )
    add("")
    if figures["findings"]:
        add(f"FINDINGS ({len(figures['findings'])}):")
        for i, f in enumerate(figures["findings"], 1):
            add(f"  {i}. {f}")
    else:
        add("no findings")
    return "\n".join(out)
