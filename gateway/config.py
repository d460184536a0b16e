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
