"""Where samples go in a Parquet part: the columns of one version's samples and the decoded record that
fills them.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from protos.hydro.v1 import sonar_pb2
from wire.signature import TensorSpec

ARROW_TYPES: dict[str, pa.DataType] = {
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


def column_for(spec: TensorSpec, name: str, *, output: bool) -> Column:
    """Where field `spec` goes, as column `name` (an output named like an input is `output.{name}`)."""
    batched = len(spec.shape) > 0 and spec.shape[0] == -1
    if batched:
        plain = len(spec.shape) == 1
    else:
        plain = all(dim >= 0 for dim in spec.shape) and math.prod(spec.shape) == 1
    return Column(name, spec, output, batched, plain, ARROW_TYPES[spec.datatype])


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
