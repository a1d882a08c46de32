"""The Open Inference Protocol's datatypes and their numpy forms: the one table every codec reads.

Arrays of datatype BYTES are numpy object arrays holding `bytes`; every other datatype is a fixed-size,
little-endian numpy dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

DATATYPES = frozenset(NUMPY_DTYPES)


class TensorError(ValueError):
    """Tensor data that cannot be decoded or encoded. The message names the tensor and the problem."""


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise TensorError(
            f"unknown datatype {datatype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        ) from None


def datatype_of(array: np.ndarray) -> str:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{'INT' if kind == 'i' else 'UINT'}{size * 8}"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    if kind in "OSU":
        return "BYTES"
    raise TensorError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")


MAX_RANK = 64
"""numpy's most dimensions of an array."""
_MAX_SPAN = 1 << 48
"""No array this codec builds has more elements, even counting a zero dimension as one: numpy refuses
to build a zero-size array whose other dimensions multiply past its index range."""


class ShapeTooLarge(TensorError):
    """A shape whose elements (zero dimensions counted as one) pass the limit `element_count` was given."""


def element_count(shape: Sequence[int], name: str, limit: int = _MAX_SPAN) -> int:
    """The elements of a tensor of `shape`; TensorError for a shape no array can have, ShapeTooLarge when
    it spans more than `limit` elements. A zero dimension does not hide the others: [0, 2**60] is refused,
    numpy could not build it."""
    if len(shape) > MAX_RANK:
        raise TensorError(f"tensor '{name}': shape has {len(shape)} dimensions, more than numpy's {MAX_RANK}")
    count = span = 1
    for dim in shape:
        if dim < 0:
            raise TensorError(f"tensor '{name}': shape {list(shape)} has a negative dimension")
        count *= dim
        span *= dim or 1
        if span > limit:
            raise ShapeTooLarge(f"tensor '{name}': shape {list(shape)} is larger than any array")
    return count


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_ | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def bytes_array(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    flat = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        flat[i] = as_bytes(value)
    return flat.reshape(shape)
