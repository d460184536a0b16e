"""`galgate serve`: run the gateway process(es) until SIGTERM/SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
import sys

from gateway.config import Settings
from gateway.server.app import Gateway, build_server
from registry.store.registry import Registry

log = logging.getLogger("galgate")


def _banner(settings: Settings, port: int, registry_url: str, gateway: Gateway) -> str:
    host = settings.listen.rpartition(":")[0]
    target = f"{host}:{port}"
    models = sorted(gateway.pool.current.routes)
    lines = [f"galgate serving on {target} (registry {registry_url})"]
    if gateway.connect_error:
        lines.append(
            f"registry not reachable yet ({gateway.connect_error}): health is NOT_SERVING and "
            "calls are UNAVAILABLE until it is; retrying with backoff"
        )
    if not (settings.admin_token or settings.predict_token or settings.outcome_token):
        lines.append(
            "no tokens set: admin, prediction and outcome calls are open to anyone who can "
            "reach this address (set GALGATE_ADMIN_TOKEN and GALGATE_PREDICT_TOKEN)"
        )
    if models:
        lines.append(f"production models: {', '.join(models)}")
    if "demo" in models:
        lines += [
            "try:",
            f"  grpcurl -plaintext {target} list",
            f'  grpcurl -plaintext -d \'{{"model": "demo", "features": {{"values": '
            f'{{"ret_1m": 0.1, "ret_5m": 0.2, "vol_15m": 1.1, "spread_bps": 2, '
            f'"imbalance": 0.3, "rsi_14": 55, "volume_z": 0.5, "funding_rate": 0.01}}}}}}\' '
            f"{target} galgate.v1.PredictionService/Predict",
            f"  galgate predict --server {target} --model demo --features "
            "ret_1m=0.1,ret_5m=0.2,vol_15m=1.1,spread_bps=2,imbalance=0.3,rsi_14=55,"
            "volume_z=0.5,funding_rate=0.01",
            f"  galgate models list --server {target}",
        ]
    return "\n".join(lines)


async def serve(settings: Settings, *, reuse_port: bool = False, announce: bool = True) -> None:
    """Open the registry, start the gateway, and run until a termination signal."""
    # The registry is reached inside gateway.start(), which retries while it is down.
    registry = Registry.unopened(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        gateway = build_server(settings, registry, reuse_port=reuse_port)
        await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if announce:
            print(_banner(settings, gateway.port, registry.url, gateway), flush=True)
        await stop.wait()
        log.info("shutting down: draining in-flight calls for up to %.1fs", settings.grace_seconds)
        await gateway.stop()
    finally:
        await registry.close()


def _worker(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
    asyncio.run(serve(settings, reuse_port=True, announce=False))


def run(settings: Settings, workers: int = 1) -> int:
    """Run one gateway, or `workers` processes sharing the port (SO_REUSEPORT)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if workers <= 1:
        asyncio.run(serve(settings))
        return 0
    if settings.listen.endswith(":0"):
        print("galgate: error: --workers needs a fixed port, not :0", file=sys.stderr)
        return 2
    if settings.metrics_listen:
        print(
            "galgate: error: --metrics-listen serves one process's metrics; it cannot be "
            "combined with --workers > 1",
            file=sys.stderr,
        )
        return 2
    if settings.demo:  # create the demo once, before workers race to do it
        asyncio.run(_prepare_demo(settings))
    worker_settings = dataclasses.replace(settings, demo=False)
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(worker_settings,)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    print(f"galgate: {workers} workers serving on {settings.listen}", flush=True)

    def forward(signum, _frame):
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return max((proc.exitcode or 0) for proc in procs)


async def _prepare_demo(settings: Settings) -> None:
    from gateway.demo import ensure_demo

    registry = await Registry.open(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        await ensure_demo(registry)
    finally:
        await registry.close()
