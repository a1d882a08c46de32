"""Sonar's Prometheus metrics, in a registry of its own (`hydro up` runs several services in one process).

Every record Sonar is sent ends in exactly one of: rejected, written, or dropped (with a reason), so
`accepted == written + dropped + buffered` can be checked from outside.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.batches = Counter(
            "hydro_sonar_ingest_batches", "Record batches received and acknowledged.", registry=self.registry
        )
        self.records = Counter(
            "hydro_sonar_records",
            "Execution records received, by outcome: accepted into the buffer or rejected.",
            ["outcome"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "hydro_sonar_records_rejected",
            "Records refused, by reason (unknown_version: no signature in the catalog; "
            "signature: the tensors do not fit the version's signature; "
            "unreadable: decoding failed unexpectedly).",
            ["reason"],
            registry=self.registry,
        )
        self.written_records = Counter(
            "hydro_sonar_records_written", "Records written to the object store.", registry=self.registry
        )
        self.written_rows = Counter(
            "hydro_sonar_rows_written", "Rows written to the object store.", registry=self.registry
        )
        self.parts = Counter(
            "hydro_sonar_parts_written", "Parquet parts written to the object store.", registry=self.registry
        )
        self.write_failures = Counter(
            "hydro_sonar_write_failures",
            "Failed writes of a part to the object store (each is retried with backoff).",
            registry=self.registry,
        )
        self.write_duration = Histogram(
            "hydro_sonar_write_duration_seconds",
            "Time to store one Parquet part (successful writes).",
            buckets=_WRITE_BUCKETS,
            registry=self.registry,
        )
        self.dropped_records = Counter(
            "hydro_sonar_records_dropped",
            "Accepted records that were never written, by reason (memory_limit: the oldest were dropped to "
            "stay under the memory bound while the store failed; shutdown: still unwritten when the stop "
            "timeout passed; encode_error: could not be turned into Parquet).",
            ["reason"],
            registry=self.registry,
        )
        self.dropped_rows = Counter(
            "hydro_sonar_rows_dropped",
            "Rows of the dropped records, by the same reasons.",
            ["reason"],
            registry=self.registry,
        )
        self.buffered_bytes = Gauge(
            "hydro_sonar_buffered_bytes",
            "Bytes held in memory: buffered records and parts waiting for the store.",
            registry=self.registry,
        )
        self.buffered_records = Gauge(
            "hydro_sonar_buffered_records",
            "Accepted records not yet written (buffered or in a part waiting for the store).",
            registry=self.registry,
        )
        self.pending_parts = Gauge(
            "hydro_sonar_pending_parts", "Parquet parts waiting to be written.", registry=self.registry
        )

        self.retention_objects = Counter(
            "hydro_sonar_retention_removed_objects",
            "Parquet parts of sampled traffic deleted because they were older than their retention.",
            registry=self.registry,
        )
        self.retention_bytes = Counter(
            "hydro_sonar_retention_removed_bytes",
            "Bytes of sampled traffic deleted because they were older than their retention.",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
