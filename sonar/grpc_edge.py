"""The gRPC edge of ingest: `hydro.v1.Sonar/Ingest`, one long-lived stream per router.

Each batch is answered with an `IngestAck` once every record in it is either in the sample buffer
(accepted) or refused (rejected: a version the catalog does not list, or tensors that do not fit the
version's signature; counted and logged, at most one line per version and reason every 10 seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from protos.hydro.v1 import sonar_pb2, sonar_pb2_grpc
from sonar.buffer import SampleBuffer
from sonar.catalog_watch import CatalogWatch
from sonar.errors import InvalidRequest
from sonar.metrics import Metrics
from sonar.rows import SampleSchema

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

_LOG_EVERY_S = 10.0


class IngestService(sonar_pb2_grpc.SonarServicer):
    """`hydro.v1.Sonar`: takes the routers' streams of sampled records into the sample buffer."""

    def __init__(
        self, catalog: CatalogWatch, buffer: SampleBuffer, metrics: Metrics, *, unknown_version_wait_s: float
    ) -> None:
        self.catalog = catalog
        self.buffer = buffer
        self.metrics = metrics
        self.unknown_version_wait_s = unknown_version_wait_s
        self._logged: dict[tuple[str, str], float] = {}

    async def Ingest(
        self, request_iterator: AsyncIterator[sonar_pb2.RecordBatch], context: Context
    ) -> AsyncIterator[sonar_pb2.IngestAck]:
        peer = context.peer()
        log.info("ingest stream from %s opened", peer)
        try:
            async for batch in request_iterator:
                accepted = rejected = 0
                schemas: dict[tuple[str, int], SampleSchema | None] = {}  # looked up once a batch
                for record in batch.records:
                    key = (record.model, record.version)
                    if key in schemas:
                        schema = schemas[key]
                    else:
                        schema = schemas[key] = await self.catalog.schema(
                            record.model, record.version, self.unknown_version_wait_s
                        )
                    if self._take(schema, record):
                        accepted += 1
                    else:
                        rejected += 1
                self.metrics.batches.inc()
                self.metrics.records.labels("accepted").inc(accepted)
                self.metrics.records.labels("rejected").inc(rejected)
                yield sonar_pb2.IngestAck(seq=batch.seq, accepted=accepted, rejected=rejected)
        finally:
            log.info("ingest stream from %s closed", peer)

    def _take(self, schema: SampleSchema | None, record: sonar_pb2.ExecutionRecord) -> bool:
        """Buffer `record` (of `schema`'s version; None: unknown); False (counted, logged) when it is
        refused."""
        if schema is None:
            version = f"{record.model}:{record.version}"
            self._refused(
                version,
                "unknown_version",
                f"records of {version} refused: the catalog at {self.catalog.address} does not list "
                "that version",
            )
            return False
        try:
            rows = schema.rows(record)
        except InvalidRequest as exc:
            self._refused(f"{record.model}:{record.version}", "signature", f"records refused: {exc}")
            return False
        except Exception:
            log.exception(
                "a record of %s:%d (request %s) cannot be read; refused",
                record.model,
                record.version,
                record.request_id,
            )
            self.metrics.rejected.labels("unreadable").inc()
            return False
        self.buffer.add(schema, rows)
        return True

    def _refused(self, version: str, reason: str, message: str) -> None:
        self.metrics.rejected.labels(reason).inc()
        now = time.monotonic()
        if now - self._logged.get((version, reason), -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._logged[(version, reason)] = now
            log.warning("%s", message)
