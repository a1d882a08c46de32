"""JSON request bodies, read within limits: every JSON body of the API is read here and nowhere else.

- Size: a body whose Content-Length announces more than the limit is refused before it is read, and one
  sent without it (chunked) is refused as soon as what arrived passes the limit: 413 either way, and the
  rest is never buffered.
- Nesting: arrays and objects nested deeper than the limit are refused with 400. Python's parser would
  otherwise recurse once a level: about a thousand levels (a few kilobytes of `[`) end in RecursionError.
- NaN and Infinity, which Python's parser accepts, are not JSON (and PostgreSQL's JSON columns refuse
  them): 400.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from control_plane.errors import BodyTooLarge, InvalidRequest


async def read_json(request: Request, *, max_bytes: int, max_depth: int) -> Any:
    """The request's body parsed as JSON; BodyTooLarge or InvalidRequest naming the limit or problem."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
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
        value = json.loads(received, parse_constant=_refuse_constant)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if depth_exceeds(value, max_depth):
        raise _too_deep(max_depth)
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than `max_depth` in `value` (`[]` is 1, `[[]]` is 2)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep(max_depth: int) -> InvalidRequest:
    return InvalidRequest(
        f"the request body nests arrays and objects deeper than the limit of {max_depth} levels"
    )


def _refuse_constant(name: str) -> Any:
    raise InvalidRequest(f"the request body holds {name}, which JSON has no place for; send null instead")
