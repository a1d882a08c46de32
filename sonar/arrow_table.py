"""Decoded records to an Arrow table: built only when a part is written, column by column, with no
Python object per row but for BYTES values (the layout is :mod:`sonar.sample_layout`'s)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from sonar.sample_layout import META_FIELDS, Column, RecordRows


def build_table(schema: pa.Schema, columns: Sequence[Column], records: Sequence[RecordRows]) -> pa.Table:
    """The Arrow table of `records`' rows in `columns`, with exactly `schema`."""
    counts = np.fromiter((r.count for r in records), dtype=np.int64, count=len(records))
    times = np.repeat(np.fromiter((r.time_unix_ms for r in records), dtype=np.int64), counts)
    meta = [
        pa.array(times.astype("datetime64[ms]"), type=META_FIELDS[0].type),
        _repeat_strings([r.request_id for r in records], counts),
        _repeat_strings([r.application for r in records], counts),
        pa.array(np.repeat(np.fromiter((r.stage for r in records), dtype=np.int32), counts)),
        pa.array(np.repeat(np.fromiter((r.latency_ms for r in records), dtype=np.float64), counts)),
        _repeat_strings([r.status for r in records], counts),
        pa.array(np.repeat(np.fromiter((r.shadow for r in records), dtype=np.bool_), counts)),
    ]
    data = [_column_array(column, [r.values[i] for r in records], counts) for i, column in enumerate(columns)]
    return pa.Table.from_arrays([*meta, *data], schema=schema)


def _repeat_strings(values: list[str], counts: np.ndarray) -> pa.Array:
    """Each record's string on each of its rows (repeated by Arrow: no Python object per row)."""
    rows = np.repeat(np.arange(len(values), dtype=np.int64), counts)
    return pa.array(values, type=pa.string()).take(pa.array(rows))


def _text(values: np.ndarray) -> list[str]:
    return [bytes(item).decode("utf-8", errors="replace") for item in values]


def _values(column: Column, flat: np.ndarray) -> pa.Array:
    """The 1-D values of one field as Arrow values of the column's type."""
    if column.spec.datatype == "BYTES":
        return pa.array(_text(flat), type=pa.string())
    if column.spec.datatype == "FP16":
        flat = flat.astype(np.float32)
    return pa.array(flat, type=column.value_type)


def _column_array(column: Column, pieces: list[np.ndarray | None], counts: np.ndarray) -> pa.Array:
    """One column over all records: each record's array (or None: nulls) spread over its rows."""
    flats: list[np.ndarray] = []
    per_row: list[int] = []
    """Values per row of each record (0 for a record whose value is null)."""
    for piece, count in zip(pieces, counts.tolist(), strict=True):
        if piece is None:
            per_row.append(0)
        elif column.batched:
            per_row.append(math.prod(piece.shape[1:]))
            flats.append(piece.reshape(-1))
        else:
            per_row.append(piece.size)
            flats.append(np.tile(piece.reshape(-1), count))
    mask = np.repeat(
        np.fromiter((piece is None for piece in pieces), dtype=np.bool_, count=len(pieces)), counts
    )
    any_null = bool(mask.any())
    dtype = np.dtype(object) if column.spec.datatype == "BYTES" else None
    flat = np.concatenate(flats) if flats else np.zeros(0, dtype=dtype or np.float64)
    if column.plain:
        if not any_null:
            return _values(column, flat)
        # Nulls take no value in `flat`: spread the values over the rows that have one.
        full = pa.nulls(len(mask), type=column.value_type)
        if not flat.size:
            return full
        positions = np.flatnonzero(~mask)
        indices = np.full(len(mask), -1, dtype=np.int64)
        indices[positions] = np.arange(len(positions))
        taken = _values(column, flat).take(pa.array(indices, mask=mask))
        return taken
    sizes = np.repeat(np.array(per_row, dtype=np.int64), counts)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
    values = _values(column, flat) if flat.size else pa.array([], type=column.value_type)
    return pa.ListArray.from_arrays(
        pa.array(offsets), values, type=column.arrow_type, mask=pa.array(mask) if any_null else None
    )
