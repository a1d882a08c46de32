"""Raw tensor contents, the form shared by OIP gRPC (`raw_*_contents`) and the binary tensor data
extension of the REST protocol: fixed-size elements little-endian and packed; each BYTES element a
4-byte little-endian length followed by its bytes."""

from __future__ import annotations

import struct

import numpy as np

from wire.datatypes import NUMPY_DTYPES, TensorError, as_bytes, bytes_array, element_count, numpy_dtype

SHARED_MEMORY = "shared_memory_region"
"""The parameter of Triton's shared-memory extension, which Hydro does not offer (tensors travel in the
request: its replicas do not share memory with callers)."""


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=NUMPY_DTYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for item in array.reshape(-1):
        data = as_bytes(item)
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def from_raw(raw: bytes | memoryview, datatype: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    count = element_count(shape, name)
    if datatype != "BYTES":
        dtype = numpy_dtype(datatype)
        if len(raw) != count * dtype.itemsize:
            raise TensorError(
                f"tensor '{name}': raw data has {len(raw)} bytes, shape {list(shape)} of {datatype} "
                f"needs {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    values: list[bytes | memoryview] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise TensorError(f"tensor '{name}': raw BYTES data ends inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise TensorError(f"tensor '{name}': raw BYTES element runs past the end of the data")
        values.append(raw[offset : offset + length])
        offset += length
    if len(values) != count:
        raise TensorError(
            f"tensor '{name}': raw data holds {len(values)} BYTES elements, shape {list(shape)} needs {count}"
        )
    return bytes_array(values, shape)
