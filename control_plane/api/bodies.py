"""JSON request bodies, read within limits: every JSON body of the API is read here and nowhere else.

- Size: a body whose Content-Length announces more than the limit is refused before it is read, and one
  sent without it (chunked) is refused as soon as what arrived passes the limit: 413 either way, and the
  rest is never buffered.
- Nesting: arrays and objects nested deeper than the limit are refused with 400. Python's parser would
  otherwise recurse once a level: about a thousand levels (a few kilobytes of `[`) end in RecursionError.
- Values no answer or column could carry, each with 400 naming it: NaN and Infinity (which Python's
  parser accepts, though they are not JSON) and numbers such as `1e999` that parse to infinity; integers
  of more than 4300 digits (Python's limit); bodies that are not UTF-8 (RFC 8259); strings holding a
  lone UTF-16 surrogate (`"\\ud800"`: no database can store it, no answer can be encoded with it) or a
  NUL character (`"\\u0000"`: PostgreSQL's text cannot hold it).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request

from control_plane.errors import BodyTooLarge, InvalidRequest


async def read_json(request: Request, *, max_bytes: int, max_depth: int) -> Any:
    """The request's body parsed as JSON; BodyTooLarge or InvalidRequest naming the limit or problem."""
    length = request.headers.get("content-length")
    if length is not None and length.isascii() and length.isdigit() and int(length) > max_bytes:
        raise BodyTooLarge(
            f"the request body is {int(length)} bytes, larger than the limit of {max_bytes} bytes"
        )
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise BodyTooLarge(f"the request body is larger than the limit of {max_bytes} bytes")
    if not received:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        text = received.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not UTF-8: {exc}") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    check(value, max_depth, strings=_ESCAPED_UNSTORABLE.search(text) is not None)
    return value


def check(value: Any, max_depth: int, *, strings: bool = True) -> None:
    """Refuse arrays and objects nested deeper than `max_depth` (`[]` is 1, `[[]]` is 2) and, if `strings`,
    text holding a lone UTF-16 surrogate or a NUL character (keys and values)."""
    if strings and isinstance(value, str):
        _check_text(value)
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(item, dict):
            if strings:
                for key in item:
                    _check_text(key)
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
            elif strings and isinstance(child, str):
                _check_text(child)


_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
"""Only such an escape can put a surrogate or a NUL in a parsed string (strict UTF-8 decoding refuses
encoded surrogates, the parser raw control characters); when the body has none, strings are not walked."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(text: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise InvalidRequest("the request body holds a NUL character (\\u0000) in a string; leave it out")
    raise InvalidRequest(
        f"the request body holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}), which is not text; "
        "pair it or leave it out"
    )


def _too_deep(max_depth: int) -> InvalidRequest:
    return InvalidRequest(
        f"the request body nests arrays and objects deeper than the limit of {max_depth} levels"
    )


def _finite(text: str) -> float:
    """A JSON number as a float; `1e999` would parse to infinity, which no JSON answer can carry."""
    value = float(text)
    if math.isinf(value):
        raise InvalidRequest(f"the request body holds the number {text[:40]}, too large for a 64-bit float")
    return value


def _refuse_constant(name: str) -> Any:
    raise InvalidRequest(f"the request body holds {name}, which JSON has no place for; send null instead")
