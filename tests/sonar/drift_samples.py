"""Sampled traffic written the way Sonar's ingest writes it: Parquet parts in the contract layout.

``samples/{model}/{version}/date=YYYY-MM-DD/hour=HH/part-{unix_ms}-{hex}.parquet`` (UTC), columns
``hydro_time`` (timestamp ms UTC), ``hydro_request_id``, ``hydro_application``, ``hydro_stage`` (int32),
``hydro_latency_ms``, ``hydro_status``, ``hydro_shadow``, then the signature's inputs and outputs.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from servicekit.object_keys import sample_part_key
from servicekit.object_store import ObjectStore

FIELD_TYPES: dict[str, pa.DataType] = {"amount": pa.float64(), "country": pa.string(), "score": pa.float64()}


def samples_table(
    times: Sequence[datetime],
    fields: Mapping[str, Sequence[Any]],
    *,
    status: Sequence[str] | None = None,
    shadow: Sequence[bool] | None = None,
    application: str = "fraud",
    types: Mapping[str, pa.DataType] | None = None,
) -> pa.Table:
    """One row per batch item; ``fields`` holds the signature columns (None = null)."""
    rows = len(times)
    types = {**FIELD_TYPES, **(types or {})}
    columns: dict[str, pa.Array] = {
        "hydro_time": pa.array(list(times), pa.timestamp("ms", tz="UTC")),
        "hydro_request_id": pa.array([secrets.token_hex(8) for _ in range(rows)], pa.string()),
        "hydro_application": pa.array([application] * rows, pa.string()),
        "hydro_stage": pa.array([0] * rows, pa.int32()),
        "hydro_latency_ms": pa.array([1.5] * rows, pa.float64()),
        "hydro_status": pa.array(list(status) if status is not None else ["OK"] * rows, pa.string()),
        "hydro_shadow": pa.array(list(shadow) if shadow is not None else [False] * rows, pa.bool_()),
    }
    for name, values in fields.items():
        columns[name] = pa.array(list(values), types.get(name))
    return pa.table(columns)


def part_key(model: str, version: int, hour: datetime) -> str:
    hour = hour.astimezone(UTC)
    stamp = int(hour.timestamp() * 1000) + secrets.randbelow(3_600_000)
    return sample_part_key(model, version, stamp, secrets.token_hex(4))


def parquet_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


async def store_samples(store: ObjectStore, model: str, version: int, table: pa.Table) -> list[str]:
    """Write ``table`` as one part per UTC hour its rows fall in; return the keys."""
    times = table.column("hydro_time").to_pylist()
    by_hour: dict[datetime, list[int]] = {}
    for index, moment in enumerate(times):
        by_hour.setdefault(moment.replace(minute=0, second=0, microsecond=0), []).append(index)
    keys = []
    for hour, indices in sorted(by_hour.items()):
        key = part_key(model, version, hour)
        await store.put(key, parquet_bytes(table.take(pa.array(indices))))
        keys.append(key)
    return keys
