"""How execution records become table rows: one version's sample schema, from its signature.

The layout (the drift worker reads it; keep the two in step):

- one row per batch item. A signature field whose shape starts with -1 has a batch axis; every such
  field of a record (inputs and outputs) must agree on the batch size N, and the record gives N rows.
  A field without a leading -1 is the same for the whole record: its value repeats on each of the N
  rows (a record in which no field has a batch axis gives one row).
- a batched field whose per-item shape is empty (`[-1]`) is a plain column; with more per-item dims
  (`[-1, 3]`) it is a list column of the item's flattened values. A field without a leading -1 is a list
  column of its flattened values, or a plain column when its shape holds exactly one element (`[1]`).
- columns: `hydro_time` (timestamp ms, UTC), `hydro_request_id`, `hydro_application`, `hydro_stage`
  (int32), `hydro_latency_ms` (float64), `hydro_status`, `hydro_shadow` (bool), then the inputs, then the
  outputs by name (an output named like an input is `output.{name}`), in signature order. Types from the
  Open Inference Protocol datatype: BOOL bool, INTn/UINTn ints, FP16 and FP32 float32, FP64 float64,
  BYTES string (UTF-8, invalid bytes replaced with U+FFFD). A failed call's outputs are null.

Checking and decoding happen when a record arrives (`SampleSchema.rows`, cheap: raw contents are viewed,
not copied); Arrow arrays are built only when a part is written (`build_table`). Records of one version
mostly come in a few layouts (tensor names, datatypes and shapes): the first record of a layout is fully
decoded and checked, and later records of that layout only have their raw contents' lengths checked and
viewed (`_Layout`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from protos.hydro.v1 import sonar_pb2
from sonar.errors import InvalidRequest
from wire.datatypes import TensorError, numpy_dtype
from wire.oip_grpc import decode_infer_request, decode_infer_response
from wire.signature import Signature, SignatureError, TensorSpec

_ARROW_TYPES: dict[str, pa.DataType] = {
    "BOOL": pa.bool_(),
    "INT8": pa.int8(),
    "INT16": pa.int16(),
    "INT32": pa.int32(),
    "INT64": pa.int64(),
    "UINT8": pa.uint8(),
    "UINT16": pa.uint16(),
    "UINT32": pa.uint32(),
    "UINT64": pa.uint64(),
    "FP16": pa.float32(),
    "FP32": pa.float32(),
    "FP64": pa.float64(),
    "BYTES": pa.string(),
}

META_FIELDS: tuple[pa.Field, ...] = (
    pa.field("hydro_time", pa.timestamp("ms", tz="UTC")),
    pa.field("hydro_request_id", pa.string()),
    pa.field("hydro_application", pa.string()),
    pa.field("hydro_stage", pa.int32()),
    pa.field("hydro_latency_ms", pa.float64()),
    pa.field("hydro_status", pa.string()),
    pa.field("hydro_shadow", pa.bool_()),
)


@dataclass(frozen=True)
class Column:
    """Where one signature field goes in the file."""

    name: str
    spec: TensorSpec
    output: bool
    batched: bool
    """The field's shape starts with -1: one row per item."""
    plain: bool
    """A plain column (one value per row) rather than a list column."""
    value_type: pa.DataType

    @property
    def arrow_type(self) -> pa.DataType:
        return self.value_type if self.plain else pa.list_(self.value_type)


_MAX_LAYOUTS = 256
"""Layouts remembered per version (batched fields give one layout per batch size seen)."""

_LayoutKey = tuple[tuple[tuple[str, str, tuple[int, ...]], ...], tuple[tuple[str, str, tuple[int, ...]], ...]]


@dataclass(frozen=True)
class _Layout:
    """How the raw contents of records of one layout, already checked once, become column values."""

    inputs: tuple[tuple[int, np.dtype[Any], tuple[int, ...], int], ...]
    """Per request tensor: (column index, dtype, shape, raw byte length)."""
    outputs: tuple[tuple[int, np.dtype[Any], tuple[int, ...], int], ...]
    count: int
    nbytes: int


@dataclass
class RecordRows:
    """One accepted record, checked and decoded, ready to become `count` rows."""

    count: int
    time_unix_ms: int
    request_id: str
    application: str
    stage: int
    latency_ms: float
    status: str
    shadow: bool
    values: list[np.ndarray | None]
    """Per column (in `SampleSchema.columns` order) the field's array as sent; None for a failed call's
    outputs and for outputs the response left out."""
    nbytes: int = field(default=0)
    """Memory the record's values hold (what the buffer's bounds count)."""

    @classmethod
    def of(
        cls, record: sonar_pb2.ExecutionRecord, count: int, values: list[np.ndarray | None], nbytes: int
    ) -> RecordRows:
        """The rows of `record`: its meta fields, with `values` decoded from its tensors."""
        return cls(
            count=count,
            time_unix_ms=record.time_unix_ms,
            request_id=record.request_id,
            application=record.application,
            stage=record.stage,
            latency_ms=record.latency_ms,
            status=record.status,
            shadow=record.shadow,
            values=values,
            nbytes=nbytes,
        )


class SampleSchema:
    """The sample layout of one model version (see the module docstring)."""

    def __init__(self, model: str, version: int, signature: Signature) -> None:
        self.model = model
        self.version = version
        self.signature = signature
        inputs = {spec.name for spec in signature.inputs}
        columns = [_column(spec, spec.name, output=False) for spec in signature.inputs]
        columns += [
            _column(spec, f"output.{spec.name}" if spec.name in inputs else spec.name, output=True)
            for spec in signature.outputs
        ]
        self.columns: tuple[Column, ...] = tuple(columns)
        self.schema = pa.schema([*META_FIELDS, *(pa.field(c.name, c.arrow_type) for c in columns)])
        self._outputs = {c.spec.name: i for i, c in enumerate(columns) if c.output}
        self._layouts: dict[_LayoutKey, _Layout] = {}

    def rows(self, record: sonar_pb2.ExecutionRecord) -> RecordRows:
        """Check `record` against the signature and decode it; InvalidRequest names what does not fit."""
        if record.time_unix_ms <= 0:
            where = f"record of {self.model}:{self.version} (request {record.request_id or '?'})"
            raise InvalidRequest(f"{where}: time_unix_ms must be set (milliseconds since 1970, UTC)")
        key = _layout_key(record)
        if key is not None:
            layout = self._layouts.get(key)
            if layout is not None:
                fast = _view(record, layout, len(self.columns))
                if fast is not None:
                    return fast
        rows = self._decode(record)
        if key is not None:
            if len(self._layouts) >= _MAX_LAYOUTS:
                self._layouts.clear()
            self._layouts[key] = self._layout(key, rows)
        return rows

    def _layout(self, key: _LayoutKey, rows: RecordRows) -> _Layout:
        """The layout of a record that `_decode` accepted (its tensors are all raw and not BYTES)."""
        index = {c.spec.name: i for i, c in enumerate(self.columns) if not c.output}

        def plan(
            tensors: tuple[tuple[str, str, tuple[int, ...]], ...], columns: dict[str, int]
        ) -> tuple[tuple[int, np.dtype[Any], tuple[int, ...], int], ...]:
            planned = []
            for name, datatype, shape in tensors:
                dtype = numpy_dtype(datatype)
                planned.append((columns[name], dtype, shape, math.prod(shape) * dtype.itemsize))
            return tuple(planned)

        return _Layout(plan(key[0], index), plan(key[1], self._outputs), rows.count, rows.nbytes)

    def _decode(self, record: sonar_pb2.ExecutionRecord) -> RecordRows:
        where = f"record of {self.model}:{self.version} (request {record.request_id or '?'})"
        try:
            inputs = decode_infer_request(record.request)
            self.signature.check_inputs(inputs)
            outputs = {}
            if record.status == "OK" and record.HasField("response"):
                outputs = decode_infer_response(record.response)
                self._check_outputs(outputs)
        except (TensorError, SignatureError) as exc:
            raise InvalidRequest(f"{where}: {exc}") from None
        values: list[np.ndarray | None] = []
        count: int | None = None
        nbytes = 0
        for column in self.columns:
            array = (outputs if column.output else inputs).get(column.spec.name)
            values.append(array)
            if array is None:
                continue
            nbytes += _nbytes(array)
            if column.batched:
                if count is None:
                    count = int(array.shape[0])
                elif array.shape[0] != count:
                    raise InvalidRequest(
                        f"{where}: {'output' if column.output else 'input'} '{column.spec.name}' has "
                        f"{array.shape[0]} items where the other batched fields have {count}"
                    )
        return RecordRows.of(record, 1 if count is None else count, values, nbytes + 128)

    def _check_outputs(self, outputs: dict[str, np.ndarray]) -> None:
        """Every output given must be the signature's; outputs left out (not asked for) become nulls."""
        for name, array in outputs.items():
            index = self._outputs.get(name)
            if index is None:
                raise SignatureError(
                    f"unexpected output '{name}': the signature's outputs are "
                    + ", ".join(spec.name for spec in self.signature.outputs)
                )
            self.columns[index].spec.check(array, "output")

    def build_table(self, records: Sequence[RecordRows]) -> pa.Table:
        """The Arrow table of `records`' rows, with exactly this version's schema."""
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
        data = [
            _column_array(column, [r.values[i] for r in records], counts)
            for i, column in enumerate(self.columns)
        ]
        return pa.Table.from_arrays([*meta, *data], schema=self.schema)


def _tensors_key(tensors: Any, raw_contents: Any) -> tuple[tuple[str, str, tuple[int, ...]], ...] | None:
    """(name, datatype, shape) per tensor, or None unless every tensor is in raw contents, fixed-size
    and without parameters (those records always take the full decode)."""
    if len(raw_contents) != len(tensors):
        return None
    key = []
    for tensor in tensors:
        datatype = tensor.datatype
        if datatype == "BYTES" or tensor.parameters:
            return None
        key.append((tensor.name, datatype, tuple(tensor.shape)))
    return tuple(key)


def _layout_key(record: sonar_pb2.ExecutionRecord) -> _LayoutKey | None:
    request = record.request
    inputs = _tensors_key(request.inputs, request.raw_input_contents)
    if not inputs:
        return None
    outputs: tuple[tuple[str, str, tuple[int, ...]], ...] | None = ()
    if record.status == "OK" and record.HasField("response"):
        response = record.response
        outputs = _tensors_key(response.outputs, response.raw_output_contents)
    if outputs is None:
        return None
    return inputs, outputs


def _view(record: sonar_pb2.ExecutionRecord, layout: _Layout, columns: int) -> RecordRows | None:
    """`record`'s values by its known layout; None when a raw content's length does not fit (then the
    full decode names the problem)."""
    values: list[np.ndarray | None] = [None] * columns
    for plan, raw_contents in (
        (layout.inputs, record.request.raw_input_contents),
        (layout.outputs, record.response.raw_output_contents),
    ):
        for (column, dtype, shape, nbytes), raw in zip(plan, raw_contents, strict=False):
            if len(raw) != nbytes:
                return None
            values[column] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return RecordRows.of(record, layout.count, values, layout.nbytes)


def _column(spec: TensorSpec, name: str, *, output: bool) -> Column:
    batched = len(spec.shape) > 0 and spec.shape[0] == -1
    if batched:
        plain = len(spec.shape) == 1
    else:
        plain = all(dim >= 0 for dim in spec.shape) and math.prod(spec.shape) == 1
    return Column(name, spec, output, batched, plain, _ARROW_TYPES[spec.datatype])


def _nbytes(array: np.ndarray) -> int:
    if array.dtype != object:
        return int(array.nbytes)
    return sum(len(item) for item in array.reshape(-1)) + 8 * array.size


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
