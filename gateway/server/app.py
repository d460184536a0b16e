"""Server factory: one grpc.aio server with every galgate service, health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

from gateway._pb.galgate.v1 import admin_pb2, prediction_pb2
from gateway._pb.inference import grpc_predict_v2_pb2
from gateway.admission import Slots
from gateway.alerting import Alerts
from gateway.config import Settings
from gateway.drift_checks import DriftChecker, DriftPolicy, feed_live_windows
from gateway.errors import ListenError
from gateway.experiments.failures import ExperimentFailures
from gateway.experiments.tracker import ExperimentTracker
from gateway.jobs.drift import DriftWatch
from gateway.jobs.guard import GuardPolicy, PromotionGuard
from gateway.jobs.monitor import Monitor
from gateway.jobs.retention import LogMaintenance, Retention
from gateway.jobs.retraining import RetrainingSchedule
from gateway.operations import Operations
from gateway.outcomes import OutcomeRecorder
from gateway.predict import PredictPath
from gateway.predlog import PredictionLog
from gateway.prometheus import Metrics
from gateway.retraining_runs import Retrainer
from gateway.server.admin_servicer import AdminServicer
from gateway.server.auth import TokenAuthInterceptor
from gateway.server.handlers import add_service
from gateway.server.inference_servicer import InferenceServicer
from gateway.server.prediction_servicer import PredictionServicer
from gateway.server.retraining import retrain_on_drift, retraining_policy
from gateway.server.services import (
    REFLECTION_STREAMS,
    SERVICES,
    WATCH_STREAMS,
    BoundedHealth,
    BoundedReflection,
    access_tokens,
    service_descriptor,
)
from gateway.server.sinks import alert_sink
from gateway.serving import notify
from gateway.serving.batching import BatchPolicy
from gateway.serving.ids import PredictionIds
from gateway.serving.pool import Pool
from registry.errors import RegistryError
from registry.store.registry import Registry

log = logging.getLogger(__name__)
# Seconds between attempts to reach a registry that was unreachable at start.
_FIRST_RETRY = 0.5
_MAX_RETRY = 10.0


@dataclass
class Gateway:
    """A built, not yet started, gateway: the server plus what runs beside it."""

    server: grpc.aio.Server
    port: int
    settings: Settings
    registry: Registry
    pool: Pool
    health: health.aio.HealthServicer
    monitor: Monitor
    # Deletes old prediction-log rows; None when everything is kept.
    retention: Retention | None
    # Checks the served versions for drift every drift_interval; None when off.
    drift_watch: DriftWatch | None
    # Rolls back a promotion whose new version degrades; None without live windows.
    guard: PromotionGuard | None
    # Raises alerts through the registry and the configured sinks.
    alerts: Alerts
    # Runs retraining (when a trainer is configured) and its schedule (None: none).
    retrainer: Retrainer
    schedule: RetrainingSchedule | None
    # The prediction log writer: started with the server, drained after it stops.
    predlog: PredictionLog
    # RecordOutcome's recorder; its ``on_outcome`` hook feeds the bandits.
    outcomes: OutcomeRecorder
    # Issues the prediction ids; signs them with the registry's key once it is read.
    ids: PredictionIds
    # Keeps the log's day partitions made ahead when no retention pass does (PostgreSQL).
    maintenance: LogMaintenance | None = None
    metrics_port: int | None = None
    # Why the registry could not be reached at start ("" once it has been).
    connect_error: str = ""
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self) -> None:
        """Start serving; health turns SERVING once production models are loaded and warm.

        The registry is reached first, and production is loaded and warmed before the
        server accepts calls: with several workers on one port the kernel hands
        connections to any listening process, and one that has not read the registry yet
        could only answer UNAVAILABLE. When the registry cannot be reached, the server
        listens anyway (health NOT_SERVING, calls UNAVAILABLE) and keeps retrying with
        backoff until it can.
        """
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.predlog.start()
        self.alerts.start()
        try:
            await self._connect()
        except Exception as exc:
            self.connect_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "registry %s not usable at start (%s); listening anyway, UNAVAILABLE until "
                "it is, retrying with backoff",
                self.registry.url,
                self.connect_error,
                exc_info=None if isinstance(exc, RegistryError) else exc,
            )
        await self.server.start()
        if self.settings.metrics_listen:
            self.metrics_port = self.pool.metrics.serve_http(self.settings.metrics_listen)
        self._tasks.append(asyncio.create_task(self._become_ready(), name="galgate-ready"))
        if self.connect_error:
            self._tasks.append(asyncio.create_task(self._reconnect(), name="galgate-connect"))
        else:
            self._start_loops()

    async def _connect(self) -> None:
        """Open the registry (schema, demo model, id key) and load production."""
        await self.registry.prepare()
        if self.settings.demo:
            from gateway.demo import ensure_demo

            await ensure_demo(self.registry)
        self.ids.set_key(await self.registry.prediction_id_key())
        await self.pool.reconcile()
        self.connect_error = ""

    async def _reconnect(self) -> None:
        delay = _FIRST_RETRY
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY)
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if error != self.connect_error:
                    log.error("registry still not usable (%s); retrying", error)
                    self.connect_error = error
                continue
            log.info("registry %s reached; serving", self.registry.url)
            self._start_loops()
            return

    def _start_loops(self) -> None:
        """The loops that follow the registry once it has been reached."""
        self._tasks.append(
            asyncio.create_task(self.pool.watch(self.settings.poll_interval), name="galgate-watch")
        )
        self._tasks.append(
            asyncio.create_task(
                self.monitor.run(self.settings.monitor_interval), name="galgate-monitor"
            )
        )
        if self.schedule is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.schedule.run(self.settings.retrain_interval), name="galgate-retraining"
                )
            )
        if self.guard is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.guard.run(self.settings.monitor_interval), name="galgate-guard"
                )
            )
        if self.drift_watch is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.drift_watch.run(self.settings.drift_interval), name="galgate-drift"
                )
            )
        if self.retention is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.retention.run(self.settings.retention_interval), name="galgate-retention"
                )
            )
        elif self.maintenance is not None and self.registry.dialect == "postgresql":
            self._tasks.append(
                asyncio.create_task(
                    self.maintenance.run(self.settings.retention_interval),
                    name="galgate-log-maintenance",
                )
            )
        if self.registry.dialect == "postgresql":
            self._tasks.append(
                asyncio.create_task(
                    notify.listen(self.registry.connect_url(), self.pool.wake),
                    name="galgate-notify",
                )
            )

    async def _become_ready(self) -> None:
        while not self.pool.ready:
            await asyncio.sleep(self.settings.poll_interval)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def _set_health(self, status: int) -> None:
        for service in ("", *SERVICES):
            await self.health.set(service, status)

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new RPCs, let in-flight ones finish within `grace`.

        Without an explicit ``grace`` (a SIGTERM), the gateway first keeps serving for
        ``shutdown_notice`` seconds after health turns NOT_SERVING: health watchers hear
        of it before the listener closes, and calls already on their way are answered.
        """
        await self.health.enter_graceful_shutdown()
        if grace is None and self.settings.shutdown_notice > 0:
            await asyncio.sleep(self.settings.shutdown_notice)
        await self.server.stop(self.settings.grace_seconds if grace is None else grace)
        # After server.stop: every Predict that was answered is in the queue by now.
        await self.predlog.stop()
        await self.retrainer.stop()  # runs in flight are recorded as cancelled
        await asyncio.to_thread(self.pool.metrics.close)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.alerts.stop()  # after the jobs: what they raised is delivered


def build_server(settings: Settings, registry: Registry, *, reuse_port: bool = False) -> Gateway:
    """Build the gateway's grpc.aio server bound to ``settings.listen`` (port 0: any free port).

    Args:
        settings: validated gateway settings.
        registry: the registry, open or not yet (``start`` opens it, retrying while it is
            unreachable); the gateway serves what it says is in production.
        reuse_port: let several worker processes share the port (SO_REUSEPORT).

    Returns:
        The Gateway; call ``await gateway.start()``.
    """
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    tokens = access_tokens(settings)
    # No interceptor at all when no token is set: every call would pay for it.
    interceptors = [TokenAuthInterceptor(tokens)] if any(any(t) for t in tokens.values()) else []
    # The server's total is every kind's budget: outcome, admin, health-watch and
    # reflection calls are held to theirs (gateway.admission), so Predict always has
    # max_concurrent_rpcs slots however the other doors are flooded.
    outcome_slots = Slots(settings.max_concurrent_outcomes, "RecordOutcome")
    admin_slots = Slots(settings.max_concurrent_admin, "ModelAdmin")
    watch_slots = Slots(WATCH_STREAMS, "health Watch")
    reflection_slots = Slots(REFLECTION_STREAMS, "server reflection")
    server = grpc.aio.server(
        interceptors=interceptors,
        options=options,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs
        + sum(s.limit for s in (outcome_slots, admin_slots, watch_slots, reflection_slots)),
    )
    metrics = Metrics()
    failures = ExperimentFailures()
    metrics.experiments_skipped.set_function(lambda: len(failures.all()))
    pool = Pool(
        registry,
        retained_versions=settings.retained_versions,
        live_rows=settings.drift_window_rows,
        metrics=metrics,
        experiment_failures=failures,
        # With any token set, NOT_FOUND does not list what else is served.
        disclose=not interceptors,
    )
    predlog = PredictionLog.from_settings(registry, settings, metrics)
    ids = PredictionIds()
    outcomes = OutcomeRecorder(
        registry,
        predlog,
        wait=settings.outcome_wait,
        poll=settings.predlog_flush_interval / 2,
        limit=settings.outcome_limit,
        ids=ids,
        on_outcome=pool.learners.observe,  # bandits learn from every outcome
        on_scored=feed_live_windows(pool),  # drift checks see every outcome's error
    )
    policy = BatchPolicy(
        max_rows=settings.max_batch_rows,
        offload_rows=settings.offload_rows,
        max_response_bytes=settings.max_message_bytes,
    )
    # Only PredictionService is a registered method set: grpc.aio keeps a pending
    # request task per registered method and waits on all of them for every call, so
    # the other services are served through generic handlers.
    if not settings.prediction_log:
        log.warning(
            "the prediction log is off (GALGATE_PREDICTION_LOG): predictions are not logged, "
            "so outcomes, experiments and drift checks have nothing of this gateway's to use"
        )
    path = PredictPath(pool, ids, predlog if settings.prediction_log else None, policy)
    add_service(
        server,
        PredictionServicer(path, metrics=metrics, outcomes=outcomes, outcome_slots=outcome_slots),
        service_descriptor(prediction_pb2, "PredictionService"),
        registered=True,
    )
    add_service(
        server,
        InferenceServicer(pool, path),
        service_descriptor(grpc_predict_v2_pb2, "GRPCInferenceService"),
    )
    alerts = Alerts(
        registry,
        alert_sink(settings, metrics),
        cooldown=timedelta(seconds=settings.alert_cooldown),
        metrics=metrics,
    )
    drift = (
        DriftChecker(registry, pool, DriftPolicy.from_settings(settings), alerts, metrics)
        if settings.drift_window_rows
        else None
    )
    operations = Operations(
        registry,
        pool=pool,
        tracker=ExperimentTracker(registry),
        max_upload_bytes=settings.max_upload_bytes,
        drift=drift,
        alerts=alerts,
    )
    retrainer = Retrainer(operations, retraining_policy(settings))
    operations.retrainer = retrainer
    if drift is not None and retrainer.configured and settings.retrain_on_drift:
        drift.on_drift = retrain_on_drift(operations)
    add_service(
        server,
        AdminServicer(operations, settings, predlog, slots=admin_slots),
        service_descriptor(admin_pb2, "ModelAdmin"),
    )
    health_servicer = BoundedHealth(watch_slots)
    add_service(
        server, health_servicer, service_descriptor(health_pb2, "Health"), checks_requests=False
    )
    add_service(
        server,
        BoundedReflection(
            (
                *SERVICES,
                service_descriptor(health_pb2, "Health").full_name,
                reflection.SERVICE_NAME,
            ),
            reflection_slots,
        ),
        service_descriptor(reflection_pb2, "ServerReflection"),
        checks_requests=False,
    )
    try:
        if settings.tls_cert:
            with open(settings.tls_cert, "rb") as cert, open(settings.tls_key, "rb") as key:
                credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
            port = server.add_secure_port(settings.listen, credentials)
        else:
            port = server.add_insecure_port(settings.listen)
    except RuntimeError as exc:  # grpc's "Failed to bind to address ..."
        raise ListenError(
            f"cannot listen on {settings.listen}: the port is in use or the host is not an "
            "address of this machine"
        ) from exc
    return Gateway(
        server=server,
        port=port,
        settings=settings,
        registry=registry,
        pool=pool,
        health=health_servicer,
        monitor=Monitor(operations, failures=failures),
        drift_watch=(
            DriftWatch(operations) if drift is not None and settings.drift_interval > 0 else None
        ),
        guard=(
            PromotionGuard(
                operations,
                GuardPolicy(
                    outcomes=settings.guard_outcomes,
                    seconds=settings.guard_seconds,
                    alpha=settings.guard_alpha,
                    margin=settings.guard_margin,
                    min_margin=settings.guard_min_margin,
                ),
            )
            if settings.drift_window_rows
            else None
        ),
        alerts=alerts,
        retrainer=retrainer,
        schedule=(
            RetrainingSchedule(operations)
            if retrainer.configured and settings.retrain_interval > 0
            else None
        ),
        retention=(
            Retention(operations, timedelta(hours=settings.prediction_retention_hours))
            if settings.prediction_retention_hours > 0
            else None
        ),
        maintenance=LogMaintenance(operations),
        predlog=predlog,
        outcomes=outcomes,
        ids=ids,
    )
