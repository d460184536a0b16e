"""Pure text and JSON rendering of registry entities for the `galgate` CLI."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.cli.backend import ExperimentReport
from registry import Event, Model, ModelVersion, StageTransition
from registry.entities import Experiment

if TYPE_CHECKING:
    from gateway.wire.prediction import Prediction
    from gateway.wire.status import GatewayStatus

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


def number(value: Any) -> str:
    """A value as shown in views: floats to 6 significant digits.

    >>> number(1 / 3), number(7)
    ('0.333333', '7')
    """
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def key_values(rows: Sequence[tuple[str, object]], width: int | None = None) -> str:
    """One ``key  value`` line per row, the values aligned at ``width`` (default: widest key).

    >>> print(key_values([("name", "a"), ("version", "1.0.0")]))
    name     a
    version  1.0.0
    """
    width = max(len(k) for k, _ in rows) if width is None else width
    return "\n".join(f"{k.ljust(width)}  {value}" for k, value in rows)


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={number(v)}" for k, v in mapping.items()) or "-"


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
    return key_values(fields)


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
    if status.skipped_experiments:
        lines.append("skipped experiments (routing: production serves; monitor: no decisions):")
        rows = [
            [f.experiment_id, f.model, f.where, when(f.at), f.error]
            for f in status.skipped_experiments
        ]
        lines.append(table(["ID", "MODEL", "WHERE", "SINCE", "ERROR"], rows))
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
        rows = [[i, number(r.value)] for i, r in enumerate(p.rows)]
    return f"{head}\n{table(headers, rows)}"
