"""How execution records become rows: one version's sample schema, from its signature.

Where each field goes is :mod:`sonar.sample_layout`; the Arrow table is built by :mod:`sonar.arrow_table`.

Checking and decoding happen when a record arrives (`SampleSchema.rows`, cheap: raw contents are viewed,
not copied); Arrow arrays are built only when a part is written (`build_table`). Records of one version
mostly come in a few layouts (tensor names, datatypes and shapes): the first record of a layout is fully
decoded and checked, and later records of that layout only have their raw contents' lengths checked and
viewed (`_Layout`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from protos.hydro.v1 import sonar_pb2
from sonar.arrow_table import build_table
from sonar.errors import InvalidRequest
from sonar.sample_layout import META_FIELDS, Column, RecordRows, column_for
from wire.datatypes import TensorError, numpy_dtype
from wire.oip_grpc import decode_infer_request, decode_infer_response
from wire.signature import Signature, SignatureError

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


class SampleSchema:
    """The sample layout of one model version (see the module docstring)."""

    def __init__(self, model: str, version: int, signature: Signature) -> None:
        self.model = model
        self.version = version
        self.signature = signature
        inputs = {spec.name for spec in signature.inputs}
        columns = [column_for(spec, spec.name, output=False) for spec in signature.inputs]
        columns += [
            column_for(spec, f"output.{spec.name}" if spec.name in inputs else spec.name, output=True)
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
        return build_table(self.schema, self.columns, records)


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


def _nbytes(array: np.ndarray) -> int:
    if array.dtype != object:
        return int(array.nbytes)
    return sum(len(item) for item in array.reshape(-1)) + 8 * array.size
