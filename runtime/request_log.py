"""One JSON line on stderr per request the runtime serves, with the router's request id.

The router sends each forwarded call its request id as gRPC metadata `x-request-id`; the runtime writes
it into the line of the request (`null` when a caller sent none), so one id can be followed from the
router's log into every model container a request went through. Lines go through the logger
`runtime.requests` (INFO; WARNING when the runtime or the model failed) at the runtime's log level
(`HYDRO_LOG_LEVEL`), and cost nothing when that level is disabled.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from protos.json_log import json_lines

LOGGER_NAME = "runtime.requests"
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128

log = logging.getLogger(LOGGER_NAME)


def request_id_of(metadata: Any) -> str | None:
    """The `x-request-id` value in a call's invocation metadata, if there is one of sane length."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            text = value if isinstance(value, str) else value.decode(errors="replace")
            return text if 0 < len(text) <= MAX_REQUEST_ID_LENGTH else None
    return None


def served(
    request_id: str | None, model: str, version: str, status: str, seconds: float, **extra: Any
) -> None:
    """Log one answered request (`status`: the gRPC status code name)."""
    level = logging.INFO if status in ("OK", "INVALID_ARGUMENT", "NOT_FOUND") else logging.WARNING
    if not log.isEnabledFor(level):
        return
    fields = {
        "event": "infer",
        "request_id": request_id,
        "model": model,
        "version": version,
        "status": status,
        "latency_ms": round(seconds * 1000, 3),
        **extra,
    }
    log.log(level, "infer", extra={"fields": fields})


def request_logging() -> AbstractContextManager[None]:
    """Write `runtime.requests` lines as JSON to stderr (not through the root's plain format) in the block."""
    return json_lines(log)
