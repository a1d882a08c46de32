"""The runtime's one wiring entry: settings -> manifest -> gRPC server (`runtime.grpc_edge`) -> model.

Start-up order is what makes cold starts short (a request at zero replicas is answered in 334 ms p50,
docs/benchmarks.md): read hydro.json, listen (ServerLive answers at once), then import and instantiate
the model on a worker thread; ServerReady and ModelReady turn true when it has loaded. A load failure
stops the server and raises LoadError (the process exits non-zero).
Predictions run on worker threads so the event loop keeps answering health checks while a model works,
except a fast model's when it is the only request in flight (see `runtime.placement`).
Each ModelInfer is logged as one JSON line with the caller's `x-request-id` (see `runtime.request_log`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from protos.hydro.v1 import runtime_pb2_grpc
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from runtime import request_log
from runtime.errors import ListenError
from runtime.grpc_edge import InferenceService, RuntimeInfoService
from runtime.loader import load_model
from runtime.manifest import load_manifest
from runtime.settings import Settings
from wire.addresses import host_port
from wire.gc_tuning import tune_for_serving

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest request or response the runtime accepts or sends (gRPC's own default is 4 MiB)."""

_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Fail loudly when the port is taken instead of silently sharing it with another process.
    ("grpc.so_reuseport", 0),
]


async def serve(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Serve the model in `settings.model_dir` until cancelled; then finish in-flight requests and stop.

    Raises ManifestError, ListenError or LoadError when the model cannot be served at all.
    """
    with request_log.request_logging(asyncio.get_running_loop()):
        await _serve(settings, started)


async def _serve(settings: Settings, started: asyncio.Event | None) -> None:
    began = time.perf_counter()
    model_dir = settings.model_dir.resolve()
    manifest = load_manifest(model_dir)  # a small file: reading it inline is faster than a thread hop

    executor = ThreadPoolExecutor(thread_name_prefix="hydro-model")
    service = InferenceService(
        manifest, executor, inline_predict_below_s=settings.inline_predict_below_ms / 1000
    )
    server = grpc.aio.server(options=_GRPC_OPTIONS)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    runtime_pb2_grpc.add_RuntimeInfoServicer_to_server(RuntimeInfoService(service.stats), server)  # type: ignore[no-untyped-call]
    address = host_port(settings.host, settings.port)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {address}: {exc} (is the port already in use?)") from None
    await server.start()
    log.info(
        "serving model %s version %d on %s (live; loading %s)",
        manifest.name,
        manifest.version,
        host_port(settings.host, port),
        manifest.entrypoint,
    )
    if started is not None:
        started.set()
    try:
        loading = time.perf_counter()
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(executor, load_model, manifest, model_dir)
        tune_for_serving()
        service.model = model
        now = time.perf_counter()
        log.info(
            "model %s version %d ready: loaded in %.3f s, %.3f s after serve() began",
            manifest.name,
            manifest.version,
            now - loading,
            now - began,
        )
        # Not server.wait_for_termination(): cancelling it cancels the future that stop() awaits.
        await asyncio.Event().wait()
    finally:
        log.info(
            "stopping: finishing %d in-flight request(s), grace %.1f s",
            service.stats.in_flight,
            settings.shutdown_grace_s,
        )
        await server.stop(settings.shutdown_grace_s)
        executor.shutdown(wait=False, cancel_futures=True)
        stats = service.stats
        log.info(
            "stopped: served %d, failed %d, max in flight %d", stats.served, stats.failed, stats.max_in_flight
        )
