"""Request ids, the record the router keeps of one invoke, and the one JSON log line it writes for it.

Every invoke gets a request id: the caller's (`X-Request-Id` header, `x-request-id` gRPC metadata) when
it is sane (1..128 visible ASCII characters), else a new random one, so a hostile or broken id never
reaches a log or a replica. The id goes back to the caller (HTTP header, gRPC trailing metadata), to
every replica a call is forwarded to (gRPC metadata `x-request-id`, shadows included; the runtime logs
it), and into the router's line for the invoke. The Open Inference Protocol's own `id` field is
untouched by all this: it is the caller's, and answers echo it.

`RequestContext` is what the data plane (`DataPlane.invoke`) knows about the invoke while it runs (the
id, the versions that served it, the time spent held); later consumers of a request (Sonar's sampler)
read the id there.

The line goes through the logger `router.requests` at INFO (WARNING for answers that are the router's
or a replica's fault: 5xx / UNAVAILABLE, INTERNAL, ...), in the form of `wire.json_log.JsonFormatter`.
Nothing is built when that level is disabled. It is written once per invoke, on the request path, so
while the logger writes only through `request_logging`'s stderr handler (the router's set-up) the line
is serialized here with orjson and written straight to stderr, without a `LogRecord`; any other handler
gets the usual record.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from wire.json_log import StderrHandler, json_lines

REQUEST_ID_KEY = "x-request-id"
"""The HTTP header (case-insensitive) and gRPC metadata key that carries the request id."""
MAX_REQUEST_ID_LENGTH = 128
LOGGER_NAME = "router.requests"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "OFF")

log = logging.getLogger(LOGGER_NAME)


def new_request_id() -> str:
    return os.urandom(8).hex()


def is_sane(request_id: str) -> bool:
    """1..128 characters, each visible ASCII (no spaces, control characters or anything non-ASCII)."""
    return (
        0 < len(request_id) <= MAX_REQUEST_ID_LENGTH
        and request_id.isascii()
        and request_id.isprintable()
        and " " not in request_id
    )


def id_metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    """The request id as gRPC metadata: sent with every forwarded call and in a gRPC answer's trailer."""
    return ((REQUEST_ID_KEY, request_id),)


def request_id_from(given: str | None) -> tuple[str, bool]:
    """The id of a request that came with `given` (None: none), and whether `given` was refused."""
    if given is None:
        return new_request_id(), False
    if is_sane(given):
        return given, False
    return new_request_id(), True


@dataclass(slots=True, eq=False)
class RequestContext:
    """One invoke as the router sees it, from arrival to answer (see the module docstring)."""

    request_id: str
    transport: str
    """'http', 'grpc' or 'kafka' (the edge's `Invocation.transport`)."""
    application: str
    refused_id: bool = False
    """The caller sent an id that was not sane; `request_id` is a new one."""
    started: float = field(default_factory=time.perf_counter)
    versions: list[str] = field(default_factory=list)
    """Version keys that answered the caller's request, stage by stage (shadows not included)."""
    shadows: list[str] = field(default_factory=list)
    """Version keys sent a shadow copy of a stage's request."""
    held_s: float = 0.0
    """Seconds spent waiting for a replica with room, over all stages."""
    metadata: tuple[tuple[str, str], ...] = ()
    """gRPC metadata sent with every call forwarded for this request."""
    stopped: float | None = None
    """When the answer was ready (`stop`); None while the invoke runs."""

    def __post_init__(self) -> None:
        self.metadata = id_metadata(self.request_id)

    def stop(self) -> None:
        """The answer is ready: `elapsed_s` stays what it is now."""
        if self.stopped is None:
            self.stopped = time.perf_counter()

    def elapsed_s(self) -> float:
        return (time.perf_counter() if self.stopped is None else self.stopped) - self.started


class RequestLog:
    """Writes the line of each finished invoke to `router.requests` (when its level is enabled)."""

    def __init__(self, router_id: str) -> None:
        self.router_id = router_id
        self._second = -1
        self._prefix = ""

    def finish(self, context: RequestContext, status: int | str, code: str, error: str | None = None) -> None:
        """Log `context`'s invoke, answered with `status` (HTTP status or gRPC code name) and `code`
        ('ok' or the error reason used in metrics)."""
        level = logging.WARNING if _is_server_fault(status) else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "event": "invoke",
            "router": self.router_id,
            "request_id": context.request_id,
            "application": context.application,
            "transport": context.transport,
            "versions": context.versions,
            "status": status,
            "code": code,
            "latency_ms": round(context.elapsed_s() * 1000, 3),
            "held_ms": round(context.held_s * 1000, 3),
        }
        if context.shadows:
            fields["shadows"] = context.shadows
        if context.refused_id:
            fields["refused_request_id"] = True
        if error is not None:
            fields["error"] = error
        handlers = log.handlers
        if len(handlers) == 1 and type(handlers[0]) is StderrHandler and not log.filters:
            self._write(level, fields)
            return
        # makeRecord + handle, not log.log: the caller's file and line are not worth a stack walk here.
        log.handle(log.makeRecord(LOGGER_NAME, level, "", 0, "invoke", (), None, extra={"fields": fields}))

    def _write(self, level: int, fields: dict[str, Any]) -> None:
        """The line `JsonFormatter` would make of the record, written to stderr."""
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second is enough
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        line = {
            "time": f"{self._prefix}.{int((now - second) * 1000):03d}Z",
            "level": logging.getLevelName(level),
            "logger": LOGGER_NAME,
        }
        line.update(fields)
        stream = sys.stderr
        stream.write(orjson.dumps(line).decode() + "\n")
        stream.flush()


def _is_server_fault(status: int | str) -> bool:
    if isinstance(status, int):
        return status >= 500
    return status in ("UNAVAILABLE", "INTERNAL", "UNKNOWN", "DATA_LOSS", "DEADLINE_EXCEEDED")


def request_logging(level: str) -> AbstractContextManager[None]:
    """Write `router.requests` lines as JSON to stderr at `level` ('OFF': none) while in the block."""
    return json_lines(log, level)
