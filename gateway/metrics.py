"""Prometheus metrics of one gateway process; per-version children are bound at load time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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


class Metrics:
    """Every metric the gateway exports, on its own registry (one per server built)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.predict_latency = Histogram(
            "galgate_predict_latency_seconds",
            "Model run time per request (decode to encode), by served version.",
            ("model", "version"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predict_rows = Counter(
            "galgate_predict_rows_total",
            "Rows predicted, by served version.",
            ("model", "version"),
            registry=self.registry,
        )
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

    def version_children(self, model: str, version: str) -> tuple[object, object]:
        """The (latency histogram, rows counter) children of one version, bound once."""
        return (
            self.predict_latency.labels(model, version),
            self.predict_rows.labels(model, version),
        )

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
