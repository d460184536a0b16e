"""Pure text and JSON rendering of registry entities for the `galgate` CLI."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.cli_backend import ExperimentReport
from registry import Event, Model, ModelVersion, StageTransition
from registry.entities import Experiment

if TYPE_CHECKING:
    from gateway.cli_remote import GatewayStatus, Prediction

# What ExperimentInfo carries over gRPC: JSON output leaves the rest (the arms' sha256,
# tau2, final_results) out, so that local and --server output are identical.
_EXPERIMENT_FIELDS = (
    "id",
    "spec",
    "state",
    "created_at",
    "started_at",
    "ended_at",
    "end_reason",
    "winner",
)
# Which way is better, per metric (gateway.stats.metrics; a test keeps them equal).
LOWER_IS_BETTER = frozenset({"squared_error", "absolute_error"})


def to_plain(obj: Any) -> Any:
    """Turn entities (dataclasses, enums, datetimes, numpy values) into JSON-ready values.

    >>> import datetime as dt
    >>> to_plain({"at": dt.datetime(2024, 1, 2, tzinfo=dt.UTC), "n": (1, 2)})
    {'at': '2024-01-02T00:00:00+00:00', 'n': [1, 2]}
    """
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, enum.Enum):
        return to_plain(obj.value)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, bytes | bytearray):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, Model):
        production = obj.production
        return {
            "name": obj.name,
            "created_at": to_plain(obj.created_at),
            "production": production.version if production else None,
            "versions": to_plain(obj.versions),
        }
    if isinstance(obj, ModelVersion):
        # The database row id is internal and not sent over gRPC: local and remote
        # (--server) output stay identical without it.
        return {
            f.name: to_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.name != "id"
        }
    if isinstance(obj, Experiment):
        return {name: to_plain(getattr(obj, name)) for name in _EXPERIMENT_FIELDS}
    if isinstance(obj, ExperimentReport):
        # Results.to_dict: an interval not yet defined has null bounds, as stored.
        return {"experiment": to_plain(obj.experiment), "results": to_plain(obj.results.to_dict())}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return to_plain(obj.tolist())
    if isinstance(obj, Iterable):
        return [to_plain(v) for v in obj]
    return str(obj)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces.

    >>> print(table(["NAME", "N"], [["a", 1], ["bbb", 22]]))
    NAME  N
    a     1
    bbb   22
    """
    cells = [list(headers)] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def when(at: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if at is None:
        return "-"
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S")


def size(n: int) -> str:
    """A byte count for people.

    >>> size(512), size(2048), size(3 * 1024 * 1024)
    ('512 B', '2.0 KiB', '3.0 MiB')
    """
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in mapping.items()) or "-"


def render_models(models: Sequence[Model]) -> str:
    """The `models list` table."""
    if not models:
        return "no models registered"
    rows = []
    for model in models:
        production = model.production
        latest = max(model.versions, key=lambda v: v.created_at, default=None)
        rows.append(
            [
                model.name,
                production.version if production else "-",
                len(model.versions),
                latest.version if latest else "-",
                when(latest.created_at if latest else model.created_at),
            ]
        )
    return table(["NAME", "PRODUCTION", "VERSIONS", "LATEST", "REGISTERED"], rows)


def render_model(model: Model) -> str:
    """The `models show NAME` view: one line per version."""
    rows = [
        [
            v.version,
            v.stage.value,
            v.spec.model_type,
            len(v.spec.features),
            v.sha256[:12],
            size(v.size),
            when(v.created_at),
        ]
        for v in model.versions
    ]
    head = f"model {model.name} (created {when(model.created_at)})"
    if not rows:
        return f"{head}\nno versions"
    headers = ["VERSION", "STAGE", "TYPE", "FEATURES", "SHA256", "SIZE", "REGISTERED"]
    return f"{head}\n{table(headers, rows)}"


def render_version(v: ModelVersion) -> str:
    """The `models show NAME VERSION` view: one field per line."""
    spec = v.spec
    signature = spec.signature
    labels = signature.get("class_labels") if isinstance(signature, Mapping) else None
    fields: list[tuple[str, object]] = [
        ("name", v.name),
        ("version", v.version),
        ("stage", v.stage.value),
        ("model type", spec.model_type),
        ("task", signature.get("task", "-") if isinstance(signature, Mapping) else "-"),
        ("features", ", ".join(spec.features)),
        ("target", spec.target or "-"),
        ("sha256", v.sha256),
        ("size", size(v.size)),
        ("profile", "yes" if v.has_profile else "no"),
        ("training samples", spec.training_samples or "-"),
        ("metrics", _pairs(spec.metrics)),
        ("validation metrics", _pairs(spec.validation_metrics)),
        ("hyperparameters", _pairs(spec.hyperparameters)),
        ("tags", _pairs(spec.tags)),
        ("description", spec.description or "-"),
        ("registered", when(v.created_at)),
        ("updated", when(v.updated_at)),
    ]
    if labels:
        fields.insert(5, ("class labels", ", ".join(str(c) for c in labels)))
    width = max(len(k) for k, _ in fields)
    return "\n".join(f"{k.ljust(width)}  {value}" for k, value in fields)


def render_history(name: str, transitions: Sequence[StageTransition]) -> str:
    """The `history NAME` table, oldest first."""
    if not transitions:
        return f"no history for {name}"
    rows = [
        [
            when(t.at),
            t.version,
            t.from_stage.value if t.from_stage else "-",
            t.to_stage.value,
            t.kind,
            t.actor,
            t.reason,
        ]
        for t in transitions
    ]
    return table(["AT", "VERSION", "FROM", "TO", "KIND", "ACTOR", "REASON"], rows)


def render_parity(parity: Any) -> str:
    """One line of a parity report's figures (its numeric and boolean fields)."""
    if parity is None:
        return "not checked (ready-made ONNX: no original model to compare with)"
    plain = to_plain(parity)
    if not isinstance(plain, Mapping):
        return str(plain)
    shown = {k: v for k, v in plain.items() if isinstance(v, int | float | bool | str)}
    return _pairs(shown)


def render_registered(v: ModelVersion, parity: Any) -> str:
    """What `register` prints."""
    lines = [
        f"registered {v.name} {v.version} ({v.stage.value})",
        f"  model type  {v.spec.model_type}",
        f"  features    {len(v.spec.features)}: {', '.join(v.spec.features)}",
        f"  artifact    sha256 {v.sha256[:12]}…  {size(v.size)}",
        f"  parity      {render_parity(parity)}",
    ]
    if v.spec.metrics:
        lines.append(f"  metrics     {_pairs(v.spec.metrics)} (on the --data rows)")
    lines.append(f"next: galgate promote {v.name} {v.version} --to staging")
    return "\n".join(lines)


def render_event(e: Event) -> str:
    """One registry event as one line (also used while following the stream)."""
    subject = " ".join(part for part in (e.name, e.version) if part) or "-"
    payload = {k: v for k, v in e.payload.items() if v not in (None, "", {}, [])}
    return f"{e.id}  {when(e.at)}  {e.kind}  {subject}  {_pairs(payload)}"


def render_events(events: Sequence[Event], after: int) -> str:
    """The `events` backlog, oldest first."""
    if not events:
        return f"no events after {after}"
    return "\n".join(render_event(e) for e in events)


def render_status(status: GatewayStatus) -> str:
    """The `status` view: serving state, loaded versions, load failures."""
    state = "serving" if status.serving else "NOT serving"
    lines = [f"gateway {status.address}: {state}, at registry event {status.event_id}"]
    if status.prediction_log_queued or status.prediction_log_dropped:
        lines.append(
            f"prediction log: {status.prediction_log_queued} queued, "
            f"{status.prediction_log_dropped} dropped"
        )
    if status.loaded:
        rows = [[v.name, v.version, v.role, v.sha256[:12]] for v in status.loaded]
        lines.append(table(["NAME", "VERSION", "ROLE", "SHA256"], rows))
    else:
        lines.append("no model versions loaded")
    if status.failures:
        lines.append("load failures:")
        rows = [[f.name, f.version, when(f.at), f.error] for f in status.failures]
        lines.append(table(["NAME", "VERSION", "AT", "ERROR"], rows))
    else:
        lines.append("no load failures")
    return "\n".join(lines)


def render_prediction(p: Prediction) -> str:
    """What `predict` prints: who answered, then one line per row."""
    head = f"prediction {p.prediction_id}  model {p.model}  version {p.version}  arm {p.arm}"
    if p.experiment_id:
        head += f"  experiment {p.experiment_id}"
    if p.class_labels:
        headers = ["ROW", "LABEL", *(f"P({c})" for c in p.class_labels)]
        rows = [
            [i, r.label, *(f"{r.probabilities[c]:.6f}" for c in p.class_labels)]
            for i, r in enumerate(p.rows)
        ]
    else:
        headers = ["ROW", "VALUE"]
        rows = [[i, _number(r.value)] for i, r in enumerate(p.rows)]
    return f"{head}\n{table(headers, rows)}"


def _subject(e: Experiment) -> str:
    spec = e.spec
    name = f" {spec.name!r}" if spec.name else ""
    return (
        f"experiment {e.id}{name} on {spec.model}: control {spec.control_version}, "
        f"treatment {spec.treatment_version}"
    )


def render_experiment_created(e: Experiment, *, remote: bool) -> str:
    """What `experiments create` prints."""
    spec = e.spec
    lines = [
        f"created {_subject(e)} ({e.state.value})",
        f"  strategy {_strategy(e)}, metric {_metric(spec.metric)}",
    ]
    if e.state.value == "running" and not remote:
        lines.append("  gateways watching this registry start routing when the change reaches them")
    lines.append(f"next: galgate experiments show {e.id}")
    return "\n".join(lines)


def render_experiment_moved(e: Experiment, verb: str) -> str:
    """What `experiments pause|resume|stop` prints."""
    return f"{verb} {_subject(e)}: now {e.state.value}"


def render_experiments(experiments: Sequence[Experiment]) -> str:
    """The `experiments list` table, oldest first."""
    if not experiments:
        return "no experiments"
    rows = [
        [
            e.id,
            e.spec.name or "-",
            e.spec.model,
            e.spec.control_version,
            e.spec.treatment_version,
            e.spec.strategy,
            e.spec.metric,
            e.state.value,
            e.winner or "-",
            when(e.created_at),
        ]
        for e in experiments
    ]
    headers = [
        "ID", "NAME", "MODEL", "CONTROL", "TREATMENT", "STRATEGY", "METRIC", "STATE",
        "WINNER", "CREATED",
    ]  # fmt: skip
    return table(headers, rows)


def _strategy(e: Experiment) -> str:
    spec = e.spec
    if spec.strategy == "weighted":
        return f"weighted (treatment share {spec.split:g})"
    if spec.strategy == "epsilon_greedy":
        return f"epsilon_greedy (epsilon {spec.epsilon:g})"
    return spec.strategy


def _metric(name: str) -> str:
    return f"{name} ({'lower' if name in LOWER_IS_BETTER else 'higher'} is better)"


def _interval(low: float, high: float, confidence: float) -> str:
    level = f"{confidence * 100:g}% CI"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{level} not defined yet (needs 2+ outcomes per arm, not all equal)"
    return f"{level} [{_number(low)}, {_number(high)}]"


def render_experiment_report(report: ExperimentReport) -> str:
    """The `experiments show ID` view: configuration, state, per-arm numbers, verdict."""
    e, r = report.experiment, report.results
    spec = e.spec
    ended = e.ended_at is not None
    head: list[tuple[str, object]] = [
        ("experiment", f"{e.id}" + (f" ({spec.name})" if spec.name else "")),
        ("model", spec.model),
        ("state", e.state.value + (f": {e.end_reason}" if ended and e.end_reason else "")),
        ("strategy", _strategy(e)),
        ("metric", _metric(spec.metric)),
        ("confidence", f"{spec.confidence:g}"),
        ("min samples", f"{spec.min_samples} outcomes per arm"),
        ("min effect", _number(spec.min_detectable_effect) if spec.min_detectable_effect else "-"),
        ("max loss", _number(spec.max_loss) if spec.max_loss else "-"),
        ("end time", when(spec.end_time)),
        ("auto-promote", "yes" if spec.auto_promote else "no"),
        ("created", when(e.created_at)),
        ("started", when(e.started_at)),
        ("ended", when(e.ended_at)),
    ]
    if spec.description:
        head.insert(2, ("description", spec.description))
    arms = table(
        ["ARM", "VERSION", "PREDICTIONS", "OUTCOMES", "MEAN", "STD"],
        [
            [a.arm, a.version, a.predictions, a.outcomes, _mean(a), _std(a)]
            for a in (r.control, r.treatment)
        ],
    )
    verdict: list[tuple[str, object]] = [
        (
            "difference",
            f"{_number(r.difference)} (treatment - control), "
            + _interval(r.ci_low, r.ci_high, spec.confidence),
        ),
        ("welch p", f"{_number(r.p_value)} (fixed horizon: valid for a single look)"),
        (
            "always-valid p",
            f"{_number(r.sequential_p_value)} (sequential test, "
            f"{'decisive' if r.sequential_decisive else 'not decisive'})",
        ),
        ("effect size", f"{_number(r.effect_size)} (Cohen's d)"),
        (
            "required",
            f"{r.required_samples_per_arm} outcomes per arm"
            if r.required_samples_per_arm
            else "- (needs --mde and outcomes with variance)",
        ),
        ("winner", _winner(e, r.winner, ended)),
        ("recommendation", r.recommendation),
    ]
    width = max(len(k) for k, _ in (*head, *verdict))
    lines = [f"{k.ljust(width)}  {v}" for k, v in head]
    lines += ["", arms, ""]
    lines += [f"{k.ljust(width)}  {v}" for k, v in verdict]
    return "\n".join(lines)


def _winner(e: Experiment, called: str, ended: bool) -> str:
    """The recorded winner of an ended experiment (the test's call may differ: a stop
    records none), else the sequential test's call so far."""
    if not ended:
        return called or "-"
    shown = e.winner or "none"
    if called and called != e.winner:
        shown += f" (the sequential test favoured the {called})"
    return shown


def _mean(a: Any) -> str:
    return _number(a.metric_mean) if a.outcomes else "-"


def _std(a: Any) -> str:
    return _number(a.metric_std) if a.outcomes > 1 else "-"
