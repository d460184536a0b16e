"""Frozen gateway settings, built once from GALGATE_* variables and command-line flags."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from registry.rules.values import MAX_RETENTION

DEFAULT_DB = "sqlite+aiosqlite:///galgate.db"
MIB = 1024 * 1024
# (2·1e15)² = 4e30 per squared error; squares of that summed over 1e15 outcomes is 1.6e76,
# far below float64's 1.8e308.
MAX_OUTCOME_LIMIT = 1e15
MAX_RETENTION_HOURS = MAX_RETENTION / timedelta(hours=1)
# Rows a live window may keep per served version (float32: 1M rows of 32 features is 128 MB).
MAX_DRIFT_WINDOW_ROWS = 1_000_000


class ConfigError(ValueError):
    """A setting has an invalid value."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway process is configured with; validated in __post_init__."""

    db_url: str = DEFAULT_DB
    listen: str = "127.0.0.1:50051"
    # Bearer tokens (see server.services.access_tokens and the README's trust model): ModelAdmin
    # needs admin_token; Predict needs predict_token when it is set; RecordOutcome(s)
    # needs outcome_token (else predict_token), and is open only when no token is set.
    admin_token: str = ""
    predict_token: str = ""
    outcome_token: str = ""
    # gRPC receive/send caps; RegisterModel streams chunks so artifacts may exceed this.
    max_message_bytes: int = 4 * MIB
    max_upload_bytes: int = 64 * MIB
    # Concurrent calls per kind (gateway.admission): Predict, PredictStream and the Open
    # Inference Protocol share max_concurrent_rpcs; outcome and admin calls have budgets
    # of their own, so neither can take the slots Predict needs.
    max_concurrent_rpcs: int = 1024
    max_concurrent_outcomes: int = 256
    max_concurrent_admin: int = 64
    # Most rows one request may carry (INVALID_ARGUMENT beyond); requests of more than
    # offload_rows rows run their model in a thread, so they never stall small ones.
    max_batch_rows: int = 65_536
    offload_rows: int = 256
    grace_seconds: float = 5.0
    # Seconds a stopping gateway keeps serving after health turns NOT_SERVING, so watchers
    # hear of it before the listener closes and calls on their way are still answered.
    shutdown_notice: float = 0.25
    # How often each gateway tails the registry's events table for changes made elsewhere.
    poll_interval: float = 0.25
    # Versions kept loaded after they stop serving, per model, for instant rollback.
    retained_versions: int = 2
    # How often the experiment monitor looks at running experiments (seconds).
    monitor_interval: float = 5.0
    # Prediction log: most predictions (and bytes of their inputs and outputs) held in
    # memory before they are written, rows per write, seconds a partial batch waits, and
    # what a full queue does: "drop" (count and warn; Predict succeeds) or "reject"
    # (Predict fails RESOURCE_EXHAUSTED).
    # False ("0", "off"): nothing is logged — for measuring what the log costs, or for a
    # gateway that serves only production with no experiments, outcomes or drift (an
    # outcome for its predictions is NOT_FOUND). Every other setting keeps the log on.
    prediction_log: bool = True
    predlog_queue_size: int = 100_000
    predlog_queue_bytes: int = 256 * MIB
    predlog_batch_size: int = 500
    predlog_flush_interval: float = 0.2
    predlog_full_policy: str = "drop"
    # Seconds a stopping gateway keeps retrying an unreachable database to write its log.
    predlog_drain_timeout: float = 10.0
    # Retention: logged predictions and outcomes older than this many hours are deleted
    # every retention_interval seconds, in short batches (0: keep everything). The rows of
    # running and paused experiments stay.
    prediction_retention_hours: float = 0.0
    retention_interval: float = 600.0
    # SQLite PRAGMA synchronous: NORMAL survives process crashes (WAL), FULL power loss.
    sqlite_synchronous: str = "NORMAL"
    # Seconds RecordOutcome waits for an unknown prediction (made by another gateway
    # process, not written yet) before answering NOT_FOUND.
    outcome_wait: float = 1.0
    # Largest |value| RecordOutcome accepts (INVALID_ARGUMENT beyond). Metric values are
    # clipped to what this allows (e.g. squared error to (2·limit)²), so no sum the
    # experiment statistics keep can overflow. At most MAX_OUTCOME_LIMIT.
    outcome_limit: float = 1e12
    # Drift monitoring (gateway.drift_checks): rows and outcome errors each served version
    # keeps (0: no live windows, no drift checks), how often the served versions are
    # checked (seconds; 0: only when asked), and the thresholds of a check.
    drift_window_rows: int = 4096
    drift_interval: float = 60.0
    drift_min_rows: int = 1000
    drift_alpha: float = 0.05
    drift_correction: str = "bonferroni"
    drift_psi_threshold: float = 0.1
    drift_min_outcomes: int = 100
    drift_performance_alpha: float = 0.01
    drift_performance_margin: float = 0.1
    # Guarded promotion (gateway.jobs.guard): after a production change, the new version's
    # outcome errors are held against the previous version's for this many outcomes or
    # seconds; worse by more than the margin (a fraction of the previous error, at least
    # guard_min_margin) at level guard_alpha rolls it back. Needs drift_window_rows > 0.
    guard_outcomes: int = 500
    guard_seconds: float = 3600.0
    guard_alpha: float = 0.05
    guard_margin: float = 0.1
    guard_min_margin: float = 0.02
    # Retraining (gateway.retraining_runs): the trainer as module:function ("" = none);
    # logged outcomes this recent make its data (0 h: any age), at least retrain_min_rows
    # of them; the newest retrain_holdout share is held out to validate the candidate,
    # which must beat production by retrain_margin (relative) to be registered; the
    # trainer's process is stopped after retrain_timeout seconds. On drift of a production
    # version, and every retrain_interval seconds (0: never by schedule), a run starts.
    trainer: str = ""
    retrain_window_hours: float = 0.0
    retrain_min_rows: int = 500
    retrain_holdout: float = 0.2
    retrain_margin: float = 0.01
    retrain_timeout: float = 600.0
    retrain_on_drift: bool = True
    retrain_interval: float = 0.0
    retrain_experiment_min_samples: int = 200
    # Alerts: an alert raised again with the same key within this many seconds (and not
    # acknowledged) is folded into the open one; new alerts are POSTed as JSON to the
    # webhook when one is set.
    alert_cooldown: float = 3600.0
    alert_webhook_url: str = ""
    metrics_listen: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    demo: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
        for name in ("listen", "metrics_listen"):
            value = getattr(self, name)
            host, sep, port = value.rpartition(":")
            if (value or name == "listen") and (not sep or not host or not port.isdigit()):
                raise ConfigError(f"{name} must be HOST:PORT, got {value!r}")
        for name in (
            "max_message_bytes",
            "max_upload_bytes",
            "max_concurrent_rpcs",
            "max_concurrent_outcomes",
            "max_concurrent_admin",
            "max_batch_rows",
            "offload_rows",
            "predlog_queue_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if (
            self.poll_interval <= 0
            or self.monitor_interval <= 0
            or self.grace_seconds < 0
            or self.shutdown_notice < 0
        ):
            raise ConfigError(
                "poll_interval and monitor_interval must be > 0, grace_seconds and "
                "shutdown_notice >= 0"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key must be given together")
        if self.predlog_queue_size < 1 or self.predlog_batch_size < 1:
            raise ConfigError("predlog_queue_size and predlog_batch_size must be at least 1")
        if self.predlog_flush_interval <= 0 or self.outcome_wait < 0:
            raise ConfigError("predlog_flush_interval must be > 0 and outcome_wait >= 0")
        if (
            not 0 <= self.prediction_retention_hours <= MAX_RETENTION_HOURS
            or not 0 < self.retention_interval <= MAX_RETENTION_HOURS * 3600
        ):
            raise ConfigError(
                f"prediction_retention_hours must be from 0 to {MAX_RETENTION_HOURS} and "
                f"retention_interval > 0, got {self.prediction_retention_hours!r} and "
                f"{self.retention_interval!r}"
            )
        if self.predlog_drain_timeout < 0:
            raise ConfigError(
                f"predlog_drain_timeout must be >= 0, got {self.predlog_drain_timeout!r}"
            )
        if self.sqlite_synchronous.upper() not in ("NORMAL", "FULL"):
            raise ConfigError(
                f'sqlite_synchronous must be "NORMAL" or "FULL", got {self.sqlite_synchronous!r}'
            )
        if not 0 < self.outcome_limit <= MAX_OUTCOME_LIMIT:
            raise ConfigError(
                f"outcome_limit must be > 0 and at most {MAX_OUTCOME_LIMIT:g}, "
                f"got {self.outcome_limit!r}"
            )
        if self.drift_window_rows < 0 or self.drift_window_rows > MAX_DRIFT_WINDOW_ROWS:
            raise ConfigError(
                f"drift_window_rows must be 0 (off) to {MAX_DRIFT_WINDOW_ROWS}, "
                f"got {self.drift_window_rows}"
            )
        if self.drift_interval < 0 or self.alert_cooldown < 0:
            raise ConfigError("drift_interval and alert_cooldown must be >= 0")
        if self.drift_min_rows < 2 or self.drift_min_outcomes < 2:
            raise ConfigError("drift_min_rows and drift_min_outcomes must be at least 2")
        for name in ("drift_alpha", "drift_performance_alpha"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.drift_psi_threshold <= 0 or self.drift_performance_margin < 0:
            raise ConfigError("drift_psi_threshold must be > 0 and drift_performance_margin >= 0")
        if self.guard_outcomes < 1 or self.guard_seconds <= 0 or not 0.0 < self.guard_alpha < 1.0:
            raise ConfigError(
                "guard_outcomes must be >= 1, guard_seconds > 0 and guard_alpha in (0, 1)"
            )
        if self.guard_margin < 0 or self.guard_min_margin <= 0:
            raise ConfigError("guard_margin must be >= 0 and guard_min_margin > 0")
        if self.trainer and (":" not in self.trainer or self.trainer.startswith(":")):
            raise ConfigError(f"trainer must be module:function, got {self.trainer!r}")
        if self.retrain_min_rows < 10 or not 0.0 < self.retrain_holdout < 1.0:
            raise ConfigError("retrain_min_rows must be >= 10 and retrain_holdout in (0, 1)")
        if (
            self.retrain_window_hours < 0
            or self.retrain_margin < 0
            or self.retrain_timeout <= 0
            or self.retrain_interval < 0
            or self.retrain_experiment_min_samples < 1
        ):
            raise ConfigError(
                "retrain_window_hours, retrain_margin and retrain_interval must be >= 0, "
                "retrain_timeout > 0 and retrain_experiment_min_samples >= 1"
            )
        if self.drift_correction not in ("bonferroni", "fdr"):
            raise ConfigError(
                f'drift_correction must be "bonferroni" or "fdr", got {self.drift_correction!r}'
            )
        if self.alert_webhook_url and not self.alert_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError("alert_webhook_url must be an http:// or https:// URL")
        if self.predlog_full_policy not in ("drop", "reject"):
            raise ConfigError(
                f'predlog_full_policy must be "drop" or "reject", got {self.predlog_full_policy!r}'
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from GALGATE_<FIELD> variables, then explicit overrides (flags).

        >>> Settings.from_env({"GALGATE_LISTEN": "127.0.0.1:0"}).listen
        '127.0.0.1:0'
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"GALGATE_{field.name.upper()}")
            if raw is None:
                continue
            kind = type(field.default)
            try:
                values[field.name] = _flag(raw) if kind is bool else kind(raw)
            except ValueError as exc:
                raise ConfigError(f"GALGATE_{field.name.upper()}={raw!r}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _flag(raw: str) -> bool:
    """An on/off variable; anything else is an error, not a silent "off".

    >>> _flag("on"), _flag("OFF"), _flag("1")
    (True, False, True)
    """
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected one of 1/true/yes/on or 0/false/no/off")
