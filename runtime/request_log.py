"""One JSON line on stderr per request the runtime serves, with the router's request id.

The router sends each forwarded call its request id as gRPC metadata `x-request-id`; the runtime writes
it into the line of the request (`null` when a caller sent none), so one id can be followed from the
router's log into every model container a request went through. Lines go through the logger
`runtime.requests` (INFO; WARNING when the runtime or the model failed) at the runtime's log level
(`HYDRO_LOG_LEVEL`), and cost nothing when that level is disabled.

Lines are written in batches (`BatchedLines`): in a container every write to stderr wakes containerd's
shim and dockerd, about 0.15 CPU-ms per line here, a fifth of what the runtime itself spends on a small
request. A line waits at most `LINGER_S`; WARNING lines, and everything before them, go out at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

from wire.json_log import json_lines

LOGGER_NAME = "runtime.requests"
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128
LINGER_S = 0.1
"""Longest a request line waits to be written."""
MAX_BATCH_LINES = 512

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


class BatchedLines(logging.Handler):
    """Formats each record at once and writes the lines to stderr together: `LINGER_S` after the first
    of a batch, at once for a WARNING or worse (with the lines before it), and on `flush`.

    Records come from the event loop's thread (the request handlers); one from another thread is
    written at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._lines: list[str] = []
        self._pending: asyncio.TimerHandle | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if (
            record.levelno >= logging.WARNING
            or len(self._lines) >= MAX_BATCH_LINES
            or threading.get_ident() != self._loop_thread
        ):
            self.flush()
        elif self._pending is None:
            self._pending = self._loop.call_later(LINGER_S, self.flush)

    def flush(self) -> None:
        self.acquire()  # the timer's flush and a record from another thread must not interleave
        try:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            if self._lines:
                text = "\n".join(self._lines) + "\n"
                self._lines.clear()
                sys.stderr.write(text)
                sys.stderr.flush()
        finally:
            self.release()


def request_logging(loop: asyncio.AbstractEventLoop) -> AbstractContextManager[None]:
    """Write `runtime.requests` lines as JSON to stderr (not through the root's plain format), batched
    on `loop`, in the block."""
    return json_lines(log, handler=BatchedLines(loop))
