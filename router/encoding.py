"""HTTP content codings of the invoke: gzip and deflate bodies in, gzip and deflate answers out.

What tritonclient.http sends and expects (`request_compression_algorithm`, `response_compression_algorithm`):
`Content-Encoding: gzip` is the gzip format, `deflate` the zlib format (a raw deflate stream is accepted
too, as some clients send one). A body is decompressed as it arrives and the size limit counts the
decompressed bytes, so a small bomb cannot grow past it. Answers are compressed whole, after the binary
tensor data extension has laid them out: `Inference-Header-Content-Length` counts the uncompressed JSON
header, which is what a client reads after decompressing.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import AsyncIterable

from router.errors import InvalidInputError, PayloadTooLargeError, UnsupportedEncodingError

SUPPORTED = ("gzip", "deflate")
"""Codings offered both ways, preferred first."""

_GZIP_WBITS = 31
_ZLIB_WBITS = 15
_RAW_DEFLATE_WBITS = -15


async def read_body(chunks: AsyncIterable[bytes], coding: str | None, limit: int) -> bytes:
    """The whole body, decoded from `coding` (the Content-Encoding header; None: not encoded).

    Raises PayloadTooLargeError when the body, decoded, is larger than `limit` bytes;
    UnsupportedEncodingError for a coding other than gzip, deflate or identity; InvalidInputError when
    the body is not valid data of its coding.
    """
    coding = (coding or "identity").strip().lower()
    coding = {"x-gzip": "gzip"}.get(coding, coding)  # RFC 9110: x-gzip is gzip
    if coding == "identity":
        return await _read_plain(chunks, limit)
    if coding not in SUPPORTED:
        raise UnsupportedEncodingError(
            f"Content-Encoding {coding!r} is not supported; send the body as gzip, deflate or identity"
        )
    decoder: zlib._Decompress | None = None
    parts: list[bytes] = []
    size = 0
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(limit, f"{coding} request body")
        if not chunk:
            continue
        if decoder is not None and decoder.eof:
            raise InvalidInputError(
                f"request body is not valid {coding} data: bytes follow the end of the stream"
            )
        if decoder is None:
            decoder = zlib.decompressobj(_wbits(coding, chunk))
        data = chunk
        while data:
            try:
                # Never produce more than one byte past the limit, however much `data` would inflate to.
                part = decoder.decompress(data, limit - size + 1)
            except zlib.error as exc:
                raise InvalidInputError(f"request body is not valid {coding} data: {exc}") from None
            size += len(part)
            if size > limit:
                raise PayloadTooLargeError(limit, f"request body, decompressed from {coding},")
            parts.append(part)
            data = decoder.unconsumed_tail
            if decoder.eof:
                break
    if decoder is None:
        return b""
    if not decoder.eof:
        raise InvalidInputError(f"request body is not valid {coding} data: it ends before the stream does")
    if decoder.unused_data:
        raise InvalidInputError(
            f"request body is not valid {coding} data: bytes follow the end of the stream"
        )
    return b"".join(parts)


async def _read_plain(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(limit)
        parts.append(chunk)
    return b"".join(parts)  # one chunk is returned as is, not copied


def _wbits(coding: str, first: bytes) -> int:
    if coding == "gzip":
        return _GZIP_WBITS
    # deflate means the zlib format (RFC 9110); a raw deflate stream has no zlib header.
    if len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
        return _ZLIB_WBITS
    return _RAW_DEFLATE_WBITS


def accepted(header: str | None) -> str | None:
    """The coding to answer in for an `Accept-Encoding` header: gzip or deflate, else None."""
    if not header:
        return None
    return _accepted(header)


@functools.lru_cache(maxsize=256)
def _accepted(header: str) -> str | None:
    # Cached: a client sends the same header with every request.
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, params = item.partition(";")
        weight = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        weights[name.strip().lower()] = weight
    best: str | None = None
    best_weight = 0.0
    for coding in SUPPORTED:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def compress(data: bytes, coding: str, level: int) -> bytes:
    """`data` in `coding` (gzip or deflate, as `accepted` answers)."""
    encoder = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS if coding == "gzip" else _ZLIB_WBITS)
    return encoder.compress(data) + encoder.flush()
