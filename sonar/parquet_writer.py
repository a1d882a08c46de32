"""Parquet parts of sampled traffic: their object keys and their bytes.

Key: `samples/{model}/{version}/date=YYYY-MM-DD/hour=HH/part-{first_record_unix_ms}-{8 hex}.parquet`,
date and hour in UTC of the records' `time_unix_ms`; one part holds rows of one version and one hour,
and `first_record_unix_ms` is the earliest record time in it (so a listing sorts parts by time).
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from servicekit.object_keys import sample_part_key

MS_PER_HOUR = 3_600_000
COMPRESSION = "zstd"


def hour_of(time_unix_ms: int) -> int:
    """The hour (since 1970, UTC) a record time falls in: the partition it goes to."""
    return time_unix_ms // MS_PER_HOUR


def part_key(model: str, version: int, first_record_unix_ms: int) -> str:
    """A new part's key (the random suffix keeps two Sonar processes from overwriting each other)."""
    return sample_part_key(model, version, first_record_unix_ms, os.urandom(4).hex())


def encode(table: pa.Table) -> bytes:
    """`table` as one Parquet file (zstd-compressed, statistics on). Only string columns are dictionary
    encoded: trying it on numeric columns (whose values rarely repeat) cost as much as the rest of the
    encoding."""
    sink = pa.BufferOutputStream()
    strings = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    pq.write_table(table, sink, compression=COMPRESSION, use_dictionary=strings)
    return bytes(sink.getvalue().to_pybytes())
