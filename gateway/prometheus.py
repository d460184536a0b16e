"""Prometheus metrics of one gateway process; per-version children are bound at load time."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

# Predict latencies on this hardware sit between ~100 µs and a few ms.
_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)


class VersionStats:
    """Predict latency and rows of one served version: plain counters, no lock.

    Every update happens on the event loop thread; a scrape (another thread) reads them
    without a lock, so one scrape may see a count and a sum one request apart.

    >>> stats = VersionStats("m", "1.0.0")
    >>> stats.observe(0.0003, rows=2); stats.observe(2.0, rows=1)
    >>> stats.count, stats.rows, stats.buckets[2], stats.buckets[-1]
    (2, 3, 1, 1)
    """

    __slots__ = ("buckets", "count", "model", "rows", "sum", "version")

    def __init__(self, model: str, version: str) -> None:
        self.model = model
        self.version = version
        self.buckets = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0
        self.rows = 0

    def observe(self, seconds: float, rows: int) -> None:
        """Count one answered request of ``rows`` rows that took ``seconds``."""
        self.buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds
        self.rows += rows


class _VersionCollector(Collector):
    """Exports every VersionStats as a histogram and a counter at scrape time."""

    def __init__(self, stats: dict[tuple[str, str], VersionStats]) -> None:
        self._stats = stats

    def collect(self):
        latency = HistogramMetricFamily(
            "galgate_predict_latency_seconds",
            "Model run time per request (decode to encode), by served version.",
            labels=("model", "version"),
        )
        rows = CounterMetricFamily(
            "galgate_predict_rows",
            "Rows predicted, by served version.",
            labels=("model", "version"),
        )
        for stats in list(self._stats.values()):
            labels = (stats.model, stats.version)
            cumulative, buckets = 0, []
            for bound, n in zip((*_LATENCY_BUCKETS, float("inf")), stats.buckets, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            latency.add_metric(labels, buckets, sum_value=stats.sum)
            rows.add_metric(labels, stats.rows)
        yield latency
        yield rows


class Metrics:
    """Every metric the gateway exports, on its own registry (one per server built)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._versions: dict[tuple[str, str], VersionStats] = {}
        self.registry.register(_VersionCollector(self._versions))
        self.rpc_errors = Counter(
            "galgate_rpc_errors_total",
            "RPCs ended with a non-OK status, by method and status code.",
            ("method", "code"),
            registry=self.registry,
        )
        self.swaps = Counter(
            "galgate_snapshot_swaps_total",
            "Routing snapshots swapped in because what is served changed.",
            registry=self.registry,
        )
        self.load_failures = Counter(
            "galgate_load_failures_total",
            "Versions that failed to load and never went live.",
            ("model",),
            registry=self.registry,
        )
        self.loaded_versions = Gauge(
            "galgate_loaded_versions",
            "Model versions loaded in this process.",
            registry=self.registry,
        )
        self.event_id = Gauge(
            "galgate_registry_event_id",
            "Registry event id the served snapshot reflects.",
            registry=self.registry,
        )
        self.prediction_log_queued = Gauge(
            "galgate_prediction_log_queued",
            "Predictions accepted by the prediction log and not yet written.",
            registry=self.registry,
        )
        self.prediction_log_queued_bytes = Gauge(
            "galgate_prediction_log_queued_bytes",
            "Bytes of inputs and outputs of predictions not yet written.",
            registry=self.registry,
        )
        self.experiments_skipped = Gauge(
            "galgate_experiments_skipped",
            "Running experiments this process skips (routing or monitor) because they fail.",
            registry=self.registry,
        )
        self.prediction_log_dropped = Counter(
            "galgate_prediction_log_dropped",
            "Predictions not logged because the prediction log queue was full.",
            registry=self.registry,
        )
        self.prediction_log_written = Counter(
            "galgate_prediction_log_written",
            "Predictions written to the registry by this process.",
            registry=self.registry,
        )
        self.prediction_log_write_failures = Counter(
            "galgate_prediction_log_write_failures",
            "Failed prediction log batch writes (each batch is kept and retried).",
            registry=self.registry,
        )

        self.alert_webhook_delivered = Counter(
            "galgate_alert_webhook_delivered",
            "Alerts a webhook receiver accepted (2xx).",
            registry=self.registry,
        )
        self.alert_webhook_retries = Counter(
            "galgate_alert_webhook_retries",
            "Webhook delivery attempts after an alert's first (connection error, timeout, "
            "429 or 5xx).",
            registry=self.registry,
        )
        self.alert_webhook_failed = Counter(
            "galgate_alert_webhook_failed",
            "Alerts a webhook sink gave up on (retries spent, or a status not retried).",
            registry=self.registry,
        )
        self.alert_webhook_dropped = Counter(
            "galgate_alert_webhook_dropped",
            "Alerts never sent to a webhook: its queue was full or it stopped first.",
            registry=self.registry,
        )
        self.drift_checks = Counter(
            "galgate_drift_checks",
            "Drift checks of served versions, by result (drift or ok).",
            ["model", "version", "result"],
            registry=self.registry,
        )
        self.alerts_raised = Counter(
            "galgate_alerts_raised",
            "New alerts raised (not folded into an open one), by kind and severity.",
            ["kind", "severity"],
            registry=self.registry,
        )
        self.rollbacks = Counter(
            "galgate_automatic_rollbacks",
            "Promotions rolled back by the promotion guard.",
            ["model"],
            registry=self.registry,
        )

    def version_stats(self, model: str, version: str) -> VersionStats:
        """The stats object of one version, made once and kept (a reload reuses it)."""
        key = (model, version)
        stats = self._versions.get(key)
        if stats is None:
            stats = self._versions[key] = VersionStats(model, version)
        return stats

    def serve_http(self, listen: str) -> int:
        """Serve /metrics over HTTP on HOST:PORT (port 0: any free port); returns the port."""
        host, _, port = listen.rpartition(":")
        self._http, _thread = start_http_server(int(port), addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        """Stop the /metrics HTTP server, if one was started."""
        http = getattr(self, "_http", None)
        if http is not None:
            http.shutdown()
            http.server_close()
            self._http = None
