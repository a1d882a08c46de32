"""Wires the router together and runs it: `serve(settings)` until cancelled.

settings -> catalog watch, scaler link, channel pool -> dispatcher -> data plane -> HTTP (uvicorn),
gRPC (grpc.aio) and Kafka (aiokafka, when HYDRO_KAFKA_BOOTSTRAP_SERVERS is set) edges.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router.catalog_watch import CatalogWatch
from router.channels import ChannelPool
from router.dataplane import DataPlane
from router.dispatch import Dispatch
from router.grpc_edge import InferenceEdge
from router.http_edge import HttpOptions, create_app
from router.kafka_consumer import ConsumerOptions
from router.kafka_edge import KafkaEdge, KafkaOff
from router.kafka_metrics import KafkaMetrics
from router.kafka_partition import PartitionOptions
from router.metrics import Metrics
from router.request_log import RequestLog, request_logging
from router.sampler import Sampler
from router.scaler_client import ScalerClient
from router.settings import Settings
from servicekit.grpc_security import ServiceLink, add_port
from servicekit.kafka_client import client_options, kafka_enabled
from servicekit.serving import HttpServer
from servicekit.tls import load_tls
from wire.addresses import host_port
from wire.gc_tuning import tune_for_serving

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Serve until cancelled; `started` is set once both ports listen. On cancel, shut down gracefully."""
    with request_logging(settings.router_request_log_level):
        await _serve(settings, started)


async def _serve(settings: Settings, started: asyncio.Event | None) -> None:
    metrics = Metrics()
    tls = load_tls(settings)
    link = ServiceLink.from_settings(settings, tls)
    catalog = CatalogWatch(
        settings.catalog_address,
        link=link,
        client=settings.router_id,
        backoff_max_s=settings.router_reconnect_max_s,
    )
    pool = ChannelPool(settings.router_max_message_bytes)
    async with ScalerClient(
        settings.scaler_address,
        settings.router_id,
        link=link,
        report_interval_s=settings.router_load_report_interval_s,
        backoff_max_s=settings.router_reconnect_max_s,
    ) as scaler:
        dispatch = Dispatch(
            pool,
            activate=scaler.activate,
            on_demand=scaler.notify_demand,
            quarantine_s=settings.router_quarantine_s,
            reactivate_interval_s=settings.router_reactivate_interval_s,
            holds=metrics,
        )
        catalog.on_change(dispatch.set_routing)
        metrics.watch(dispatch.queues)
        sampler = Sampler(
            settings.sonar_address,
            link=link,
            registry=metrics.registry,
            buffer_records=settings.router_sonar_buffer_records,
            buffer_bytes=settings.router_sonar_buffer_bytes,
            batch_records=settings.router_sonar_batch_records,
            batch_bytes=settings.router_sonar_batch_bytes,
            batch_linger_s=settings.router_sonar_batch_linger_s,
            max_record_bytes=settings.router_sonar_max_record_bytes,
            max_unacked_batches=settings.router_sonar_max_unacked_batches,
            backoff_max_s=settings.router_reconnect_max_s,
        )
        plane = DataPlane(
            catalog,
            dispatch,
            metrics,
            snapshot_wait_s=settings.router_snapshot_wait_s,
            request_log=RequestLog(settings.router_id),
            sampler=sampler,
            limits=settings.tensor_limits,
        )

        grpc_server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.router_max_message_bytes),
                ("grpc.max_send_message_length", settings.router_max_message_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            InferenceEdge(plane, retry_after_s=settings.router_retry_after_s), grpc_server
        )
        grpc_address = host_port(settings.bind_host, settings.router_grpc_port)
        # The public invoke edge: TLS when configured, never a client certificate nor the service
        # credential (invoke keys guard applications).
        add_port(grpc_server, grpc_address, "the router's gRPC invoke", tls, public=True)
        http = HttpServer(
            create_app(
                plane,
                HttpOptions(
                    max_body_bytes=settings.router_max_message_bytes,
                    retry_after_s=settings.router_retry_after_s,
                    compress_min_bytes=settings.router_compress_min_bytes,
                    compress_level=settings.router_compress_level,
                ),
            ),
            settings.bind_host,
            settings.router_http_port,
            "the router's HTTP invoke",
            tls=tls,
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            timeout_graceful_shutdown=5,
        )
        background = [
            asyncio.create_task(catalog.run(), name="router catalog watch"),
            asyncio.create_task(scaler.run(dispatch), name="router scaler link"),
        ]
        kafka_task: asyncio.Task[None] | None = None
        if kafka_enabled(settings):
            kafka = _kafka_edge(settings, plane, dispatch, metrics, scaler.notify_demand)
            catalog.on_change(kafka.follow)
            dispatch.on_endpoints(kafka.refresh)
            dispatch.add_backlog(kafka.backlog)
            kafka_task = asyncio.create_task(kafka.run(), name="router kafka edge")
            background.append(kafka_task)
        else:
            catalog.on_change(KafkaOff().follow)
        if sampler.enabled:
            background.append(asyncio.create_task(sampler.run(), name="router sonar sampler"))
        try:
            await grpc_server.start()
            http_task = http.start()
            await http.wait_started()
            tune_for_serving()
            log.info(
                "router %s listening: HTTP on %s://%s:%d, gRPC on %s%s; catalog %s, scaler %s, sonar %s",
                settings.router_id,
                http.scheme,
                settings.bind_host,
                settings.router_http_port,
                grpc_address,
                " (TLS)" if tls.serving else "",
                settings.catalog_address,
                settings.scaler_address,
                settings.sonar_address or "off",
            )
            if started is not None:
                started.set()
            try:
                await asyncio.wait({http_task, *background}, return_when=asyncio.FIRST_COMPLETED)
                for task in (http_task, *background):
                    if task.done():
                        task.result()  # a background loop only ends by failing: surface it
            finally:
                await http.stop()
        finally:
            await grpc_server.stop(grace=1.0)
            if kafka_task is not None:  # answers what it can within its grace, commits, leaves its groups
                kafka_task.cancel()
                await asyncio.gather(kafka_task, return_exceptions=True)
            await sampler.drain(timeout_s=1.0)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            sampler.close()
            await plane.close()
            dispatch.close()
            await pool.close()
            http.listener.close()
            log.info("router %s stopped", settings.router_id)


def _kafka_edge(
    settings: Settings,
    plane: DataPlane,
    dispatch: Dispatch,
    metrics: Metrics,
    on_demand: Callable[[str], None],
) -> KafkaEdge:
    options = ConsumerOptions(
        client=client_options(settings),
        client_id=settings.router_id,
        session_timeout_ms=int(settings.router_kafka_session_timeout_s * 1000),
        fetch_max_wait_ms=settings.router_kafka_fetch_max_wait_ms,
        partition=PartitionOptions(
            window=settings.router_kafka_partition_window,
            retries=settings.router_kafka_retries,
            backoff_s=settings.router_kafka_retry_backoff_s,
        ),
        unlimited_per_replica=settings.router_kafka_unlimited_per_replica,
        revoke_grace_s=settings.router_kafka_revoke_grace_s,
        offsets_interval_s=settings.router_kafka_offsets_interval_s,
        max_buffered=settings.router_kafka_max_buffered,
    )
    return KafkaEdge(plane, dispatch, KafkaMetrics(metrics.registry), options, on_demand=on_demand)
